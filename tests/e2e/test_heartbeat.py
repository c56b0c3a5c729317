"""A real `mailbus listen` reports itself and its outcomes to Redis, for the console's health."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from mailbus.heartbeat import last_hour, listeners
from tests.e2e.harness import Listener, mailbus_env, multipart_message, send

pytestmark = pytest.mark.e2e


def test_a_listener_reports_what_it_accepted_and_rejected(
    tmp_path: Path, redis_server, real_redis: redis.Redis
) -> None:
    env = mailbus_env(tmp_path, redis_server.url, "redis", MAILBUS_MAX_MESSAGE_SIZE="2000")
    with Listener(env) as listener:
        assert send(listener.port, multipart_message("fits"))[0] == 250
        assert send(listener.port, multipart_message("x" * 3000))[0] == 552  # over the size
        (alive,) = listeners(real_redis)
        assert alive["pid"] == str(listener.process.pid)
    assert last_hour(real_redis) == {"accepted": 1, "rejected": 1, "failed": 0}  # last beat
