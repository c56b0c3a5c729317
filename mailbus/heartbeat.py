"""Listener processes in Redis: who is alive and what they accepted, rejected and failed.

The listener writes (listener.heartbeat), the console reads (`listeners`, `last_hour`). Keys:
`mailbus:listener:<host>:<pid>` (a hash, gone three beats after the process stops beating),
`mailbus:listeners` (those names by last beat, so a reader never scans the keyspace) and
`mailbus:listener-stats:<minute>` (a hash of counts per outcome, kept two hours).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import redis
from redis.typing import EncodableT, FieldT

HEARTBEAT = 15.0  # seconds between a listener process's records
PROCESS = "mailbus:listener:"
ALIVE = "mailbus:listeners"
STATS = "mailbus:listener-stats:"
OUTCOMES = ("accepted", "rejected", "failed")


def record_listener(
    connection: redis.Redis,
    identity: Mapping[str, Any],
    *,
    sessions: int,
    totals: Mapping[str, int],
    deltas: Mapping[str, int],
) -> None:
    """One beat: the process's record and this beat's counts, in one round trip."""
    key = f"{PROCESS}{identity['host']}:{identity['pid']}"
    minute = f"{STATS}{int(time.time() // 60)}"
    with connection.pipeline(transaction=False) as pipe:
        fields: dict[FieldT, EncodableT] = {str(k): str(v) for k, v in identity.items()}
        fields.update(sessions=str(sessions), seen=f"{time.time():.0f}")
        fields.update({outcome: str(totals.get(outcome, 0)) for outcome in OUTCOMES})
        pipe.hset(key, mapping=fields)
        pipe.expire(key, int(3 * HEARTBEAT))
        pipe.zadd(ALIVE, {key: time.time()})
        pipe.zremrangebyscore(ALIVE, "-inf", time.time() - 3600)  # long gone
        for outcome, count in deltas.items():
            if count:
                pipe.hincrby(minute, outcome, count)
        pipe.expire(minute, 7200)
        pipe.execute()


def listeners(connection: redis.Redis) -> list[dict[str, str]]:
    """The listener processes that beat within the last three beats, by host and pid."""
    since = time.time() - 3 * HEARTBEAT
    keys = sorted(_text(key) for key in connection.zrangebyscore(ALIVE, since, "+inf"))
    with connection.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        found = pipe.execute()
    return [{_text(k): _text(v) for k, v in item.items()} for item in found if item]


def last_hour(connection: redis.Redis) -> dict[str, int]:
    """Messages accepted, rejected and failed by every listener over the last 60 minutes."""
    now = int(time.time() // 60)
    with connection.pipeline(transaction=False) as pipe:
        for minute in range(now - 59, now + 1):
            pipe.hgetall(f"{STATS}{minute}")
        found = pipe.execute()
    totals = dict.fromkeys(OUTCOMES, 0)
    for counts in found:
        for outcome, count in counts.items():
            name = _text(outcome)
            if name in totals:
                totals[name] += int(count)
    return totals


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
