"""The queue depth line from the listener, so the workers can scale from zero and back.

With no worker running, nothing else tells the autoscaler that mail waits. One process per
`mailbus listen` prints it (mailbus.depth): the supervisor with `--processes N`, which calls
`tick` from its loop (a thread there would be forked into the children mid-write), or a thread
beside the event loop of a single process, so a slow Redis never stalls SMTP sessions.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator

import redis

from mailbus.connections import redis_connection
from mailbus.depth import EmfReporter, read_levels
from mailbus.logs import log_event
from mailbus.settings import Settings

log = logging.getLogger("mailbus.listener")
TICK = 0.2  # seconds between checks whether a line is due (the interval is whole seconds)


def publisher(settings: Settings) -> Callable[[], None]:
    """A `tick()` that prints the line when one is due. It never raises: an autoscaling signal
    must not take the supervisor (and so every listener process) down; the error is logged."""
    connection = redis_connection(settings.redis_url, fail_fast=True, timeout=2.0)
    reporter = EmfReporter(
        settings.queue, settings.emf_interval, lambda: read_levels(connection, settings.queue)
    )

    def tick() -> None:
        try:
            reporter.tick()
        except redis.RedisError as exc:
            log_event(log, "listener.queue_unreadable", level=logging.WARNING, error=repr(exc))
        except Exception as exc:  # e.g. a job hash with an unreadable enqueued_at
            log_event(log, "listener.queue_depth_failed", level=logging.ERROR, exc_info=exc)

    return tick


@contextlib.contextmanager
def in_thread(settings: Settings) -> Iterator[None]:
    """Publish from a daemon thread while the block runs (not at all with the interval at 0)."""
    if settings.emf_interval <= 0:
        yield
        return
    tick = publisher(settings)
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(TICK):
            tick()

    thread = threading.Thread(target=run, name="queue-depth", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=3.0)
