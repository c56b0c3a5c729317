"""The listener's fast enqueue path against a real Redis: its Lua scripts write what RQ writes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from mailbus.redis_server import RedisServer
from tests.unit.test_queue import check_same_jobs, check_same_timelines, settings_with

pytestmark = pytest.mark.integration


@pytest.fixture
def other_db(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """Database 1 of the test server, flushed: the fast path's side of the comparison."""
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, db=1)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def test_job_writer_writes_what_enqueue_message_writes(
    real_redis: redis.Redis, other_db: redis.Redis
) -> None:
    check_same_jobs(real_redis, other_db, settings_with())


def test_record_many_writes_what_record_writes(
    real_redis: redis.Redis, other_db: redis.Redis
) -> None:
    check_same_timelines(real_redis, other_db)
