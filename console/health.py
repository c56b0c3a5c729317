"""The health page's numbers, read from Redis: the queue, its registries, the workers that
registered with RQ, the listener processes that beat (mailbus.heartbeat), what arrived, was
refused and died over the last hour, and the routes in order."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from rq import Worker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from mailbus import heartbeat
from mailbus.deadletters import DeadLetter
from mailbus.errors import HandlerLoadError
from mailbus.queue import message_queue
from mailbus.router import handler_name, load_router
from mailbus.settings import Settings

HOUR = 3600.0


@dataclass(frozen=True)
class Health:
    queued: int
    running: int
    retrying: int
    dead: int
    workers: int
    accepted_last_hour: int
    rejected_last_hour: int  # by the listeners' policy (5xx, 452), from their heartbeats
    failed_last_hour: int  # 451: the message could not be stored
    dead_last_hour: int
    listeners: list[dict[str, str]]  # listener processes alive (host, pid, sessions, totals)
    routes: list[tuple[str, str]]  # (pattern, handler), in the order they are tried
    routes_error: str


def read_health(
    connection: redis.Redis, settings: Settings, accepted: int, letters: list[DeadLetter]
) -> Health:
    queue = message_queue(connection, settings)
    since = time.time() - HOUR
    routes, error = _routes(settings)
    hour = heartbeat.last_hour(connection)
    return Health(
        queued=queue.count,
        running=StartedJobRegistry(queue=queue).count,
        retrying=ScheduledJobRegistry(queue=queue).count,
        dead=FailedJobRegistry(queue=queue).count,
        workers=Worker.count(connection=connection, queue=queue),
        accepted_last_hour=accepted,
        rejected_last_hour=hour["rejected"],
        failed_last_hour=hour["failed"],
        listeners=heartbeat.listeners(connection),
        dead_last_hour=sum(1 for letter in letters if (letter.failed_at or 0) >= since),
        routes=routes,
        routes_error=error,
    )


def _routes(settings: Settings) -> tuple[list[tuple[str, str]], str]:
    """The user's router as the workers load it (MAILBUS_HANDLERS), or why it cannot be shown."""
    if not settings.handlers:
        return [], "MAILBUS_HANDLERS is not set"
    try:
        router = load_router(settings.handlers)
    except HandlerLoadError as exc:
        return [], str(exc)
    rows = [(_pattern(route.pattern), route.name) for route in router.routes]
    if router.default_handler is not None:
        rows.append(("(default)", handler_name(router.default_handler)))
    return rows, ""


def _pattern(pattern: object) -> str:
    return str(getattr(pattern, "pattern", pattern))
