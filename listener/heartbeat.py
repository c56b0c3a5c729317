"""Each listener process says it is alive, and what it did, in Redis: the console's health page
reads it (mailbus.heartbeat), since a process's Prometheus counters are only in that process.

Every HEARTBEAT seconds a daemon thread writes, in one round trip, the process's record (host,
pid, start, open sessions, totals) with a TTL of three beats, and adds the messages accepted,
rejected (by the policy) and failed (451) since the last beat to per-minute counters. Nothing
of it is on a session's path: a slow or absent Redis delays only this thread, and an error is
logged, never raised.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator

import redis

from listener.context import ListenerContext
from mailbus.connections import redis_connection
from mailbus.heartbeat import HEARTBEAT, record_listener
from mailbus.logs import log_event

log = logging.getLogger("mailbus.listener")


@contextlib.contextmanager
def beating(ctx: ListenerContext) -> Iterator[None]:
    """Beat from a daemon thread while the block runs; a last beat when it ends."""
    connection = redis_connection(ctx.settings.redis_url, fail_fast=True, timeout=2.0)
    identity = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
    sent: collections.Counter[str] = collections.Counter()
    stop = threading.Event()

    def beat() -> None:
        now = collections.Counter(ctx.messages)  # a copy: sessions go on counting meanwhile
        try:
            record_listener(connection, identity, sessions=len(ctx.sessions), totals=now,
                            deltas=now - sent)  # fmt: skip
        except redis.RedisError as exc:
            log_event(log, "listener.heartbeat_failed", level=logging.WARNING, error=repr(exc))
            return
        sent.clear()
        sent.update(now)

    def run() -> None:
        beat()
        while not stop.wait(HEARTBEAT):
            beat()

    thread = threading.Thread(target=run, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=3.0)
        beat()
        connection.close()
