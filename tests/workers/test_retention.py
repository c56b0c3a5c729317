"""MAILBUS_RETENTION with fakeredis and a file store: what the sweep removes, what it holds."""

from __future__ import annotations

import os
import time
from pathlib import Path

import fakeredis
from rq.registry import FailedJobRegistry

from mailbus.ids import new_message_id
from mailbus.queue import message_queue
from mailbus.retention import Sweeper, sweep, unfinished
from mailbus.settings import Settings
from mailbus.stores import FileStore, RedisStore
from mailbus.stores.base import done_key, raw_key
from tests.workers import handlers_basic
from tests.workers.conftest import make_settings, put_message
from workers import context
from workers.worker import drain

RETENTION = 1000


def aged(seconds: float) -> str:
    return new_message_id(time.time() - seconds)


def backdate(store: FileStore, key: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(store.root / key, (then, then))


def age_of(store: FileStore, key: str) -> float:
    return time.time() - (store.root / key).stat().st_mtime


def test_retention_bounds_every_other_lifetime() -> None:
    default = Settings()
    assert default.retention == 30 * 86_400
    assert default.raw_ttl == default.retention  # MAILBUS_REDIS_RAW_TTL unset: the retention
    assert Settings(raw_ttl=3600).raw_ttl == 3600  # shorter, to bound Redis memory
    short = Settings.from_env({"MAILBUS_RETENTION": "86400", "MAILBUS_REDIS_RAW_TTL": "604800"},
                              env_file=None)  # fmt: skip
    assert (short.retention, short.raw_ttl, short.dedupe_window) == (86_400, 86_400, 86_400)


def test_a_dead_letter_is_kept_for_the_retention_not_a_year(
    fake: fakeredis.FakeRedis, tmp_path: Path
) -> None:
    settings = make_settings(store=f"file://{tmp_path}", retention=RETENTION, retries=0)
    handlers_basic.failures["support"] = 1
    message_id = put_message(FileStore(tmp_path), fake, settings)
    drain(context.build(settings, handlers_basic.router, connection=fake))

    registry = FailedJobRegistry(queue=message_queue(fake, settings))
    assert registry.get_job_ids() == [message_id]
    expires = fake.zscore(registry.key, message_id)
    assert expires is not None and expires <= time.time() + RETENTION
    assert 0 < fake.ttl(f"rq:job:{message_id}") <= RETENTION


def test_the_file_sweep_removes_what_outlived_the_retention_and_holds_unfinished_messages(
    fake: fakeredis.FakeRedis, tmp_path: Path
) -> None:
    settings = make_settings(store=f"file://{tmp_path}", retention=RETENTION, retries=0)
    store = FileStore(tmp_path)
    ctx = context.build(settings, handlers_basic.router, connection=fake)
    handlers_basic.failures["support"] = 1
    dead = put_message(store, fake, settings, message_id=aged(2000))
    drain(ctx)
    finished = put_message(store, fake, settings, message_id=aged(1900))
    drain(ctx)
    queued = put_message(store, fake, settings, message_id=aged(1800))
    fresh = put_message(store, fake, settings, message_id=aged(10))
    (attachment,) = (k for k in store.keys("attachments/"))
    for key in [*store.keys("raw/"), *store.keys("done/"), attachment]:
        backdate(store, key, 1500)
    backdate(store, raw_key(fresh), 10)
    assert unfinished(fake, settings) == {dead, queued, fresh}

    swept = sweep(fake, store, settings)

    assert not store.exists(raw_key(finished)) and not store.exists(done_key(finished))
    assert not store.exists(attachment)  # no message renewed it within the retention
    for held in (dead, queued):
        assert store.exists(raw_key(held)) and age_of(store, raw_key(held)) < 60  # renewed
    assert store.exists(raw_key(fresh))
    assert (swept.renewed, swept.removed) == (2, 3)  # finished's raw and done, the attachment


def test_an_attachment_a_newer_message_shares_is_renewed_not_swept(
    fake: fakeredis.FakeRedis, tmp_path: Path
) -> None:
    settings = make_settings(store=f"file://{tmp_path}", retention=RETENTION)
    store = FileStore(tmp_path)
    ctx = context.build(settings, handlers_basic.router, connection=fake)
    put_message(store, fake, settings)
    drain(ctx)
    (attachment,) = store.keys("attachments/")
    backdate(store, attachment, 1500)  # stored by a message long ago...
    put_message(store, fake, settings, mail_from="bob@example.net")  # ...sent again today
    drain(ctx)

    sweep(fake, store, settings)
    assert store.exists(attachment)


def test_a_dead_letters_raw_bytes_in_redis_outlive_their_ttl_while_it_is_dead(
    fake: fakeredis.FakeRedis,
) -> None:
    settings = make_settings(retention=100 * RETENTION, raw_ttl=RETENTION, retries=0)
    store = RedisStore(fake, raw_ttl=settings.raw_ttl)
    handlers_basic.failures["support"] = 1
    dead = put_message(store, fake, settings, message_id=aged(900))
    drain(context.build(settings, handlers_basic.router, connection=fake))
    fake.expire(store.redis_key(raw_key(dead)), 5)  # about to expire

    assert sweep(fake, store, settings).renewed == 1
    assert fake.ttl(store.redis_key(raw_key(dead))) > RETENTION - 60


def test_the_supervisor_sweeps_once_per_interval_across_supervisors(
    fake: fakeredis.FakeRedis, tmp_path: Path
) -> None:
    settings = make_settings(store=f"file://{tmp_path}", retention=RETENTION)
    store = FileStore(tmp_path)
    first, second = Sweeper(fake, store, settings), Sweeper(fake, store, settings)
    for sweeper, left in ((first, 0), (second, 1)):  # the first holds the lock this interval
        key = raw_key(aged(5000))
        store.put(key, b"old")
        backdate(store, key, 5000)
        sweeper.tick()
        assert len(list(store.keys("raw/"))) == left
