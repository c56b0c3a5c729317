"""Fixtures for the console's unit tests: a fakeredis holding messages written as the listener
writes them (raw + job + timeline in one transaction), and a TestClient on the console app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fakeredis
import pytest
import redis
from starlette.testclient import TestClient

from console.app import create_app
from mailbus.envelope import Envelope
from mailbus.ids import new_message_id
from mailbus.queue import JobWriter, MessageJob
from mailbus.settings import Settings
from mailbus.status import encode, record_many
from mailbus.stores import RedisStore, raw_key

TOKEN = "s3cret-console-token-for-tests"


def store_message(connection: redis.Redis, settings: Settings, raw: bytes, **envelope: Any) -> str:
    """What the listener's writer commits for one message."""
    message_id = new_message_id()
    env = Envelope(**{"mail_from": "ada@example.org", "rcpt_tos": ("support@example.com",),
                      "peer": "127.0.0.1", **envelope})  # fmt: skip
    with connection.pipeline(transaction=True) as pipe:
        RedisStore(connection).put_raw(raw_key(message_id), raw, pipeline=pipe)
        JobWriter(connection, settings).enqueue(
            pipe, [MessageJob(message_id, raw_key(message_id), env, "d" * 64)]
        )
        events = encode({"event": "received", "size": len(raw)}, {"event": "queued"})
        record_many(pipe, settings.dedupe_window, {message_id: events})
        pipe.execute()
    return message_id


@pytest.fixture
def fake() -> redis.Redis:
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


@pytest.fixture
def console(fake: redis.Redis) -> Callable[..., TestClient]:
    """`console(**settings)`: a client on a console over `fake` (the Redis store)."""

    def make(**changes: Any) -> TestClient:
        settings = Settings(redis_url="redis://127.0.0.1:1/0", queue="mailbus-test").replace(
            **changes
        )
        client = TestClient(create_app(settings, connection=fake), base_url="http://127.0.0.1")
        client.settings = settings  # type: ignore[attr-defined]
        return client

    return make
