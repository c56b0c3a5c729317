"""BatchWorker against a real Redis: several waiting jobs taken at once keep RQ's bookkeeping,
a failure or a warm stop mid-batch loses nothing, and a dead worker's whole batch is put back."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rq.job import Job
from rq.registry import FinishedJobRegistry
from rq.results import Result
from rq.serializers import JSONSerializer

from mailbus.queue import message_queue
from mailbus.rqseam import started
from mailbus.status import timeline
from tests.workers import handlers_basic
from tests.workers.conftest import EML, make_settings, put_message
from workers import batch, context, recovery
from workers.worker import drain, make_worker

pytestmark = pytest.mark.integration


@pytest.fixture
def ctx(real_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[context.Context]:
    # Recent jobs "took" 1 ms: the next batch is as large as it gets.
    monkeypatch.setattr(batch.BatchWorker, "job_seconds", 0.001)
    made = context.build(make_settings(), handlers_basic.router, connection=real_redis)
    context.install(made)
    yield made


def put(ctx: context.Context, **kwargs: Any) -> str:
    """A message of its own (a copy of EML with another Message-ID), so dedupe lets it run."""
    body = EML.replace(b"<m1@", f"<{uuid.uuid4().hex}@".encode())
    return put_message(ctx.store, ctx.connection, ctx.settings, body=body, **kwargs)


def fetch(ctx: context.Context, message_id: str) -> Job:
    return Job.fetch(message_id, connection=ctx.connection, serializer=JSONSerializer)


def test_batch_size_follows_how_long_jobs_take() -> None:
    worker = batch.BatchWorker.__new__(batch.BatchWorker)
    for seconds, size in [(2.0, 1), (0.5, 1), (0.1, 5), (0.01, 32), (0.0, 32)]:
        worker.job_seconds = seconds
        assert worker.batch_size() == size


def test_a_batch_keeps_rq_bookkeeping_for_every_job(ctx) -> None:
    ids = [put(ctx) for _ in range(12)]
    queue = message_queue(ctx.connection, ctx.settings)
    drain(ctx)
    assert Counter(name for name, _, _ in handlers_basic.calls) == {"support": 12, "audit": 12}
    for message_id in ids:
        job = fetch(ctx, message_id)
        assert job.get_status().value == "finished"
        assert job.started_at is not None and job.ended_at is not None
        result = Result.fetch_latest(job, serializer=JSONSerializer)
        assert result is not None and result.type == Result.Type.SUCCESSFUL
        ran = sorted(name.rsplit(".", 1)[-1] for name in result.return_value["ran"])
        assert ran == ["audit", "support"]
        events = [e["event"] for e in timeline(ctx.connection, message_id)]
        assert events == ["parsed", "handler", "handler", "done"]
    assert sorted(FinishedJobRegistry(queue=queue).get_job_ids()) == sorted(ids)
    assert queue.started_job_registry.count == 0
    assert ctx.connection.llen(queue.intermediate_queue_key) == 0
    assert queue.count == 0


def test_a_failing_job_mid_batch_is_retried_and_the_rest_finish(ctx) -> None:
    ids = [put(ctx) for _ in range(3)]
    flaky = put(ctx, to=("reply+7@example.com",))
    ids += [put(ctx) for _ in range(3)]
    handlers_basic.failures["reply"] = 1
    drain(ctx)
    assert [name for name, _, _ in handlers_basic.calls].count("reply") == 2
    assert all(fetch(ctx, i).get_status().value == "finished" for i in [*ids, flaky])
    assert [name for name, i, _ in handlers_basic.calls if i == ids[-1]] == ["support", "audit"]


def test_warm_stop_mid_batch_puts_the_rest_back_at_the_front(ctx) -> None:
    first = put(ctx, to=("stop@example.com",))
    rest = [put(ctx) for _ in range(4)]
    queue = message_queue(ctx.connection, ctx.settings)
    worker = make_worker(ctx)
    worker.work(burst=True)  # the first job's handler sends SIGTERM: RQ's warm stop
    assert [i for _, i, _ in handlers_basic.calls] == [first]
    assert fetch(ctx, first).get_status().value == "finished"
    assert queue.get_job_ids() == rest  # back in their order, none started
    assert queue.started_job_registry.count == 0
    drain(ctx)
    assert Counter(i for _, i, _ in handlers_basic.calls) == {first: 1, **dict.fromkeys(rest, 2)}


def test_a_dead_workers_whole_batch_is_put_back_only_the_running_job_counts_a_crash(ctx) -> None:
    ids = [put(ctx) for _ in range(5)]
    queue = message_queue(ctx.connection, ctx.settings)
    worker = make_worker(ctx, name="mailbus.test.dead")
    worker.register_birth()
    taken = started.take(worker, queue, 5)
    started.start(worker, taken, queue)  # then the process "dies" before running the first job
    assert queue.count == 0 and queue.started_job_registry.count == 5
    death = recovery.Death(worker.name, "killed by SIGKILL", crashed=True)
    running = recovery.recover(ctx.connection, queue, ctx.ledger, None, death, poison_crashes=3)
    assert running == ids[0]
    assert ctx.ledger.crashes(ids[0]) == 1
    assert all(ctx.ledger.crashes(i) == 0 for i in ids[1:])
    assert queue.get_job_ids() == ids and queue.started_job_registry.count == 0
    drain(ctx)
    assert Counter(i for _, i, _ in handlers_basic.calls) == dict.fromkeys(ids, 2)
    assert all(fetch(ctx, i).get_status().value == "finished" for i in ids)


def test_a_batch_that_overruns_puts_the_rest_back_for_any_worker(ctx, monkeypatch, caplog) -> None:
    monkeypatch.setattr(batch, "OVERDUE_SECONDS", 0.0)  # every batch is overdue at once
    caplog.set_level(logging.INFO, logger="mailbus.worker")
    ids = [put(ctx) for _ in range(4)]
    drain(ctx)
    assert Counter(i for _, i, _ in handlers_basic.calls) == dict.fromkeys(ids, 2)
    put_backs = [r for r in caplog.records if r.getMessage() == "batch.put_back"]
    assert len(put_backs) == 3  # batches of 4, 3, 2 and 1: each ran only its first job
    queue = message_queue(ctx.connection, ctx.settings)
    assert queue.count == 0 and queue.started_job_registry.count == 0


def double(number: int) -> int:
    """A job that is not a message: someone else's function on the mailbus queue."""
    return number * 2


def test_a_job_of_another_function_in_a_batch_runs_through_rqs_own_path(ctx) -> None:
    ids = [put(ctx) for _ in range(2)]
    queue = message_queue(ctx.connection, ctx.settings)
    other = queue.enqueue(f"{__name__}.double", 21)
    ids += [put(ctx) for _ in range(2)]
    drain(ctx)
    assert fetch(ctx, other.id).get_status().value == "finished"
    assert Result.fetch_latest(fetch(ctx, other.id), serializer=JSONSerializer).return_value == 42
    assert all(fetch(ctx, i).get_status().value == "finished" for i in ids)
    assert queue.started_job_registry.count == 0 and queue.count == 0
