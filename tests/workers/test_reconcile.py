"""mailbus.reconcile on a file store with fakeredis: what it enqueues and what it leaves alone."""

from __future__ import annotations

import time
from pathlib import Path

import fakeredis
import pytest

from mailbus.errors import HandlerLoadError
from mailbus.ids import new_message_id
from mailbus.queue import message_queue
from mailbus.reconcile import reconcile
from mailbus.stores import FileStore, RedisStore
from mailbus.stores.base import done_key
from tests.workers import handlers_basic
from tests.workers.conftest import make_settings, put_message
from workers import context
from workers.pool import run
from workers.worker import drain, reconcile_if_due


def aged(seconds: float) -> str:
    return new_message_id(time.time() - seconds)


def test_reconcile_enqueues_only_old_stored_messages_without_job_or_marker(
    fake: fakeredis.FakeRedis, tmp_path: Path
) -> None:
    settings = make_settings(store=f"file://{tmp_path}")
    store = FileStore(tmp_path)
    lost = put_message(store, fake, settings, message_id=aged(3600), enqueue=False)
    finished = put_message(store, fake, settings, message_id=aged(3500), enqueue=False)
    store.put(done_key(finished), b"done")
    queued = put_message(store, fake, settings, message_id=aged(3400))
    fresh = put_message(store, fake, settings, message_id=aged(5), enqueue=False)
    ancient = put_message(store, fake, settings, message_id=aged(30 * 86400), enqueue=False)

    assert reconcile(fake, store, settings, grace=60, lookback=7 * 86400) == 1
    queue = message_queue(fake, settings)
    assert sorted(queue.get_job_ids()) == sorted([queued, lost])
    job = queue.fetch_job(lost)
    assert job is not None and job.kwargs["envelope"]["rcpt_tos"] == ["support@example.com"]
    assert job.kwargs["envelope"]["mail_from"] == "alice@example.org"
    assert reconcile(fake, store, settings, grace=60) == 0  # now it has a job
    assert {fresh, ancient}.isdisjoint(queue.get_job_ids())

    ctx = context.build(settings, handlers_basic.router, connection=fake)
    drain(ctx)
    for message_id in (queued, lost):  # same bytes + envelope: the second is a duplicate
        job = queue.fetch_job(message_id)
        assert job is not None and job.get_status().value == "finished"
        assert store.exists(done_key(message_id))
    assert len(handlers_basic.calls) == 2  # support + audit, once


def test_reconcile_is_a_noop_for_the_redis_store(fake: fakeredis.FakeRedis) -> None:
    settings = make_settings()
    store = RedisStore(fake)
    put_message(store, fake, settings, message_id=aged(3600), enqueue=False)
    assert reconcile(fake, store, settings, grace=0) == 0


def test_workers_sweep_at_most_once_per_interval(fake: fakeredis.FakeRedis, tmp_path) -> None:
    settings = make_settings(store=f"file://{tmp_path}", reconcile_interval=300,
                             reconcile_grace=60)  # fmt: skip
    ctx = context.build(settings, handlers_basic.router, connection=fake)
    put_message(ctx.store, fake, settings, message_id=aged(3600), enqueue=False)
    assert reconcile_if_due(ctx, "worker-a") == 1
    put_message(ctx.store, fake, settings, message_id=aged(3600), enqueue=False)
    assert reconcile_if_due(ctx, "worker-b") == 0  # the lock lasts one interval
    assert 0 < fake.ttl("mailbus:reconcile:lock") <= 300


def test_bad_handlers_path_fails_at_boot_naming_it() -> None:
    settings = make_settings(handlers="tests.workers.no_such_module:router")
    with pytest.raises(HandlerLoadError, match="tests.workers.no_such_module:router"):
        run(settings, processes=2)
    with pytest.raises(HandlerLoadError, match="not a mailbus.Router"):
        run(make_settings(handlers="tests.workers.handlers_basic:calls"))
