"""Prometheus `/metrics`, `/healthz` and `/readyz` for both roles, correct with `--processes N`.

prometheus_client's multiprocess mode is always on: every process writes its samples to files in
one directory and the process that serves HTTP adds them up. `prepare()` must run before anything
imports prometheus_client (the CLI calls it first), because the library picks its storage at
import time. What is a fact about Redis rather than about a process (queue depth, dead letters)
is read at scrape time by `QueueCollector`, registered by the worker role's HTTP server.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis

from mailbus.connections import redis_connection
from mailbus.logs import log_event
from mailbus.rqseam.layout import queue_counts
from mailbus.settings import Settings
from mailbus.stores import check_store, open_store

ENV = "PROMETHEUS_MULTIPROC_DIR"
logger = logging.getLogger("mailbus.metrics")


def prepare() -> Path:
    """Give this process tree a fresh, private samples directory (inherited by children)."""
    directory = Path(tempfile.mkdtemp(prefix="mailbus-metrics-"))
    os.environ[ENV] = str(directory)
    return directory


def cleanup(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def process_exited(pid: int) -> None:
    """Drop a dead child's live gauges (active connections, in-flight bytes) from the sums."""
    from prometheus_client import multiprocess

    if os.environ.get(ENV):
        multiprocess.mark_process_dead(pid)


def readiness(settings: Settings, *, write_only: bool) -> Callable[[], list[str]]:
    """Checks for `/readyz`: Redis answers and the store accepts a write. Returns the problems.

    The listener passes `write_only=True`: it may only put objects (least privilege on S3)."""
    connection = redis_connection(settings.redis_url, fail_fast=True, timeout=2.0)
    store = open_store(settings.store, connection, raw_ttl=60)

    def check() -> list[str]:
        problems = []
        try:
            connection.ping()
        except Exception as exc:  # any failure means not ready; the reason goes in the body
            problems.append(f"redis: {type(exc).__name__}: {exc}")
        try:
            check_store(store, write_only=write_only)
        except Exception as exc:
            problems.append(f"store: {type(exc).__name__}: {exc}")
        return problems

    return check


class QueueCollector:
    """`mailbus_queue_depth{queue}` and `mailbus_dead_letters{queue}`, read from Redis per scrape.

    One value for the whole cluster, so it is not a per-process gauge. While Redis is down the
    two series are left out of the scrape (and `/readyz` says why) instead of failing it."""

    def __init__(self, settings: Settings) -> None:
        self.queue = settings.queue
        self.connection = redis_connection(settings.redis_url, fail_fast=True, timeout=2.0)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            depth, dead = queue_counts(self.connection, self.queue)
        except redis.RedisError as exc:
            log_event(logger, "metrics.queue_unavailable", level=logging.WARNING, error=str(exc))
            return
        for name, doc, value in (
            ("mailbus_queue_depth", "Jobs waiting: queued plus retries scheduled", depth),
            ("mailbus_dead_letters", "Jobs in the failed registry (dead letters)", dead),
        ):
            family = GaugeMetricFamily(name, doc, labels=["queue"])
            family.add_metric([self.queue], value)
            yield family


def serve(
    port: int,
    ready: Callable[[], list[str]],
    host: str = "0.0.0.0",
    *,
    collectors: Iterable[Any] = (),
) -> ThreadingHTTPServer:
    """Serve the three endpoints from a daemon thread; returns the server (for `shutdown()`).

    `collectors` are added to the multiprocess samples (e.g. `QueueCollector` for workers)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    for collector in collectors:
        registry.register(collector)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path == "/metrics":
                self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                self._reply(200, b"ok\n")
            elif self.path == "/readyz":
                problems = ready()
                body = ("\n".join(problems) or "ready") + "\n"
                self._reply(503 if problems else 200, body.encode())
            else:
                self._reply(404, b"not found\n")

        def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Scrapes every few seconds are not worth a log line each."""

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
