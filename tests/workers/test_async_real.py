"""`async def` handlers in a worker against a real Redis, under RQ's real time limit: they run
to completion, overrun like plain handlers (cancelled, reported, retried) and share one loop."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from mailbus.status import timeline
from tests.workers import handlers_async
from tests.workers.conftest import EML, make_settings, put_message
from workers import context
from workers.worker import drain

pytestmark = pytest.mark.integration


@pytest.fixture
def ctx(real_redis: redis.Redis) -> Iterator[context.Context]:
    handlers_async.calls.clear()
    handlers_async.overruns.clear()
    handlers_async.cancelled.clear()
    made = context.build(make_settings(job_timeout=1), handlers_async.router, connection=real_redis)
    context.install(made)
    yield made


def put(ctx: context.Context, to: str) -> str:
    body = EML.replace(b"<m1@", f"<{uuid.uuid4().hex}@".encode())
    return put_message(ctx.store, ctx.connection, ctx.settings, body=body, to=(to,))


def status(ctx: context.Context, message_id: str) -> str:
    job = Job.fetch(message_id, connection=ctx.connection, serializer=JSONSerializer)
    return job.get_status().value


def handler_events(ctx: context.Context, message_id: str) -> list[tuple[str, str, Any]]:
    return [(e["handler"].rsplit(".", 1)[1], e["result"], e.get("error", "").split(":")[0])
            for e in timeline(ctx.connection, message_id) if e["event"] == "handler"]  # fmt: skip


def test_async_and_plain_handlers_run_to_completion_on_one_loop(ctx) -> None:
    first, second = put(ctx, "async@example.com"), put(ctx, "async@example.com")
    drain(ctx)
    assert [(name, mid) for name, mid, _ in handlers_async.calls] == [
        ("fetch", first), ("plain", first), ("fetch", second), ("plain", second),
    ]  # fmt: skip
    assert status(ctx, first) == status(ctx, second) == "finished"
    assert handler_events(ctx, first) == [("fetch", "ok", ""), ("plain", "ok", "")]
    loops = {loop for name, _, loop in handlers_async.calls if name == "fetch"}
    assert len(loops) == 1, "two jobs in a row run on the same event loop"


@pytest.mark.parametrize("slow", ["slow_async", "slow_sync"])
def test_an_overrun_is_cancelled_reported_and_retried_alike(ctx, slow: str) -> None:
    handlers_async.overruns[slow] = 1
    message_id = put(ctx, f"{slow.replace('_', '-')}@example.com")
    drain(ctx)
    assert status(ctx, message_id) == "finished"
    assert [name for name, _, _ in handlers_async.calls] == [slow, slow, "after_slow"]
    assert handler_events(ctx, message_id) == [
        (slow, "failed", "JobTimeoutException"), (slow, "ok", ""), ("after_slow", "ok", ""),
    ]  # fmt: skip
    if slow == "slow_async":
        assert handlers_async.cancelled == ["slow_async"]
        loops = {loop for _, _, loop in handlers_async.calls}
        assert len(loops) == 1, "the loop the overrun ran on serves the retry"
