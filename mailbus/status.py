"""Each message's status timeline (received, stored, queued, parsed, handler attempts, done or
dead), kept in Redis as a list of JSON events so `mailbus show ID` can tell its story."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis

_encode = json.JSONEncoder(default=str).encode  # json.dumps(default=str), one encoder for all

# KEYS: the status lists. ARGV: the ttl, then per list its event count and its events.
_APPEND = """
local at = 2
for _, key in ipairs(KEYS) do
  local count = tonumber(ARGV[at])
  redis.call('RPUSH', key, unpack(ARGV, at + 1, at + count))
  redis.call('EXPIRE', key, ARGV[1])
  at = at + count + 1
end
"""


def status_key(message_id: str) -> str:
    return f"mailbus:status:{message_id}"


def encode(*events: dict[str, Any]) -> list[str]:
    """The events as stored, stamped with the time now."""
    now = time.time()
    return [_encode({"at": now, **event}) for event in events]


def record(target: Any, message_id: str, ttl: int, *events: dict[str, Any]) -> None:
    """Append events on `target`: a pipeline (the caller's transaction, executed by the caller)
    or a client (one round trip of our own)."""
    if not isinstance(target, redis.client.Pipeline):
        with target.pipeline(transaction=False) as pipe:
            record(pipe, message_id, ttl, *events)
            pipe.execute()
        return
    key = status_key(message_id)
    target.rpush(key, *encode(*events))
    target.expire(key, ttl)


def record_many(pipeline: Any, ttl: int, timelines: Mapping[str, Sequence[str]]) -> None:
    """What `record` does for each message id's encoded events, as one command on `pipeline`
    (the listener's writer records a whole group at once)."""
    keys: list[str] = []
    args: list[int | str] = [ttl]
    for message_id, events in timelines.items():
        keys.append(status_key(message_id))
        args.append(len(events))
        args.extend(events)
    pipeline.eval(_APPEND, len(keys), *keys, *args)


def timeline(connection: redis.Redis, message_id: str) -> list[dict[str, Any]]:
    return [json.loads(item) for item in connection.lrange(status_key(message_id), 0, -1)]  # type: ignore[union-attr]
