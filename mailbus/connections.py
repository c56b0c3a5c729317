"""Redis clients for each role, with the timeouts and retry policy that role needs.

The listener fails fast (no client-side retries, bounded socket timeouts) because the sending
MTA retries after our 451; a retried MULTI/EXEC could enqueue a message twice. Workers and the
CLI keep redis-py's retries, since they can wait.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def redis_connection(url: str, *, fail_fast: bool = False, timeout: float = 10.0) -> redis.Redis:
    if fail_fast:
        return redis.Redis.from_url(
            url,
            retry=Retry(NoBackoff(), 0),
            socket_timeout=timeout,
            socket_connect_timeout=min(timeout, 5.0),
            health_check_interval=30,
        )
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, health_check_interval=30)
