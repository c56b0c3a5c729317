"""Each message's status timeline (received, stored, queued, parsed, handler attempts, done or
dead), kept in Redis as a list of JSON events so `mailbus show ID` can tell its story.

The listener's writer also adds each message to `INDEX` (a sorted set: score = when it was
received, member = id) in the same command, trimmed to the timelines' retention, so the console
can page through messages newest first without an extra round trip on the listener's path."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis

_encode = json.JSONEncoder(default=str).encode  # json.dumps(default=str), one encoder for all

INDEX = "mailbus:index"

# KEYS: the index, then the status lists. ARGV: the ttl, the time now, then per list its message
# id, its event count and its events.
_APPEND = """
local at = 3
local index = {}
for k = 2, #KEYS do
  local count = tonumber(ARGV[at + 1])
  redis.call('RPUSH', KEYS[k], unpack(ARGV, at + 2, at + 1 + count))
  redis.call('EXPIRE', KEYS[k], ARGV[1])
  index[#index + 1] = ARGV[2]
  index[#index + 1] = ARGV[at]
  at = at + count + 2
end
redis.call('ZADD', KEYS[1], unpack(index))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[1]))
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
    (the listener's writer records a whole group at once), and each id's entry in `INDEX`."""
    keys: list[str] = [INDEX]
    args: list[float | str] = [ttl, time.time()]
    for message_id, events in timelines.items():
        keys.append(status_key(message_id))
        args += (message_id, len(events), *events)
    pipeline.eval(_APPEND, len(keys), *keys, *args)


def timeline(connection: redis.Redis, message_id: str) -> list[dict[str, Any]]:
    return [json.loads(item) for item in connection.lrange(status_key(message_id), 0, -1)]  # type: ignore[union-attr]
