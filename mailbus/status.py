"""Each message's status timeline (received, stored, queued, parsed, handler attempts, done or
dead), kept in Redis as a list of JSON events so `mailbus show ID` can tell its story."""

from __future__ import annotations

import json
import time
from typing import Any

import redis


def status_key(message_id: str) -> str:
    return f"mailbus:status:{message_id}"


def record(target: Any, message_id: str, ttl: int, *events: dict[str, Any]) -> None:
    """Append events on `target`: a pipeline (the caller's transaction, executed by the caller)
    or a client (one round trip of our own)."""
    if not isinstance(target, redis.client.Pipeline):
        with target.pipeline(transaction=False) as pipe:
            record(pipe, message_id, ttl, *events)
            pipe.execute()
        return
    now = time.time()
    key = status_key(message_id)
    target.rpush(key, *(json.dumps({"at": now, **event}, default=str) for event in events))
    target.expire(key, ttl)


def timeline(connection: redis.Redis, message_id: str) -> list[dict[str, Any]]:
    return [json.loads(item) for item in connection.lrange(status_key(message_id), 0, -1)]  # type: ignore[union-attr]
