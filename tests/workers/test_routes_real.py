"""The router in a worker against a real Redis: each fan-out run is its own ledger entry (retried
and deduplicated on its own), a `when=` that raises is a retried failure of its route, never a
crashed worker, and `stop` holds across retries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from mailbus.status import timeline
from tests.workers import handlers_routes
from tests.workers.conftest import EML, make_settings, put_message
from workers import context
from workers.worker import drain

pytestmark = pytest.mark.integration


@pytest.fixture
def ctx(real_redis: redis.Redis) -> Iterator[context.Context]:
    handlers_routes.calls.clear()
    handlers_routes.failures.clear()
    handlers_routes.raws.clear()
    made = context.build(make_settings(), handlers_routes.router, connection=real_redis)
    context.install(made)
    yield made


def put(ctx: context.Context, *to: str, subject: bytes = b"Printer on fire") -> str:
    body = EML.replace(b"<m1@", f"<{uuid.uuid4().hex}@".encode())
    body = body.replace(b"Printer on fire", subject)
    return put_message(ctx.store, ctx.connection, ctx.settings, body=body, to=to)


def status(ctx: context.Context, message_id: str) -> str:
    job = Job.fetch(message_id, connection=ctx.connection, serializer=JSONSerializer)
    return job.get_status().value


def runs(ctx: context.Context, message_id: str) -> list[tuple[str, str]]:
    return [(e["handler"].rsplit(".", 1)[1], e["result"])
            for e in timeline(ctx.connection, message_id) if e["event"] == "handler"]  # fmt: skip


@pytest.mark.parametrize("name", ["reply", "areply"])
def test_each_ticket_is_its_own_run_retried_on_its_own(ctx, name: str) -> None:
    handlers_routes.failures[f"{name}:42"] = 1
    message_id = put(ctx, f"{name}+41@example.com", f"{name}+42@example.com")
    drain(ctx)
    assert status(ctx, message_id) == "finished"
    tickets = [kw["ticket"] for n, _, kw in handlers_routes.calls if n == name]
    assert tickets == ["41", "42", "42"], "the retry runs only ticket 42 again"
    assert runs(ctx, message_id) == [
        (f"{name}(ticket='41')", "ok"), (f"{name}(ticket='42')", "failed"),
        ("everyone", "ok"), (f"{name}(ticket='42')", "ok"),
    ]  # fmt: skip


def test_a_duplicate_copy_runs_no_ticket_again(ctx) -> None:
    body = EML.replace(b"<m1@", f"<{uuid.uuid4().hex}@".encode())
    to = ("reply+1@example.com", "reply+2@example.com")
    first = put_message(ctx.store, ctx.connection, ctx.settings, body=body, to=to)
    second = put_message(ctx.store, ctx.connection, ctx.settings, body=body, to=to)
    drain(ctx)
    assert status(ctx, first) == status(ctx, second) == "finished"
    assert [kw for n, _, kw in handlers_routes.calls if n == "reply"] == [
        {"ticket": "1"}, {"ticket": "2"},
    ]  # fmt: skip


def test_a_when_that_raises_is_retried_and_its_stop_still_holds(ctx) -> None:
    handlers_routes.failures["gate"] = 1
    message_id = put(ctx, "x@example.com", subject=b"gated")
    drain(ctx)
    assert status(ctx, message_id) == "finished"
    assert [name for name, _, _ in handlers_routes.calls] == ["gated"]
    assert runs(ctx, message_id) == [("gated", "failed"), ("gated", "ok")]
    other = put(ctx, "x@example.com")  # gate says no: the routes after it run
    drain(ctx)
    assert [name for name, mid, _ in handlers_routes.calls if mid == other] == ["everyone"]


def test_msg_raw_read_returns_the_stored_bytes(ctx) -> None:
    message_id = put(ctx, "x@example.com", subject=b"raw bytes please")
    drain(ctx)
    assert handlers_routes.raws == [ctx.store.get(f"raw/{message_id}")]
