"""The time index the console pages through: written with the listener's status events, in the
same command, and trimmed to the timelines' retention."""

from __future__ import annotations

import time

import pytest
import redis

from mailbus.status import INDEX, encode, record_many

pytestmark = pytest.mark.integration


def test_record_many_indexes_each_message_by_the_time_it_was_received(
    real_redis: redis.Redis,
) -> None:
    before = time.time()
    with real_redis.pipeline(transaction=True) as pipe:
        record_many(pipe, 600, {"01A": encode({"event": "received"}), "01B": encode({"e": 1})})
        pipe.execute()
    entries = real_redis.zrange(INDEX, 0, -1, withscores=True)
    assert [member for member, _ in entries] == [b"01A", b"01B"]
    assert all(before <= score <= time.time() for _, score in entries)


def test_entries_older_than_the_retention_are_trimmed_on_the_next_write(
    real_redis: redis.Redis,
) -> None:
    real_redis.zadd(INDEX, {"old": time.time() - 601, "young": time.time() - 10})
    with real_redis.pipeline(transaction=True) as pipe:
        record_many(pipe, 600, {"new": encode({"event": "received"})})
        pipe.execute()
    assert real_redis.zrange(INDEX, 0, -1) == [b"young", b"new"]
