"""Processes, sockets and signals of `mailbus ingress`: uvicorn serving the ingress app.

Each process binds MAILBUS_HOST:MAILBUS_INGRESS_PORT itself with SO_REUSEPORT (as the SMTP
listener does, and under the same supervisor for `--processes N`), so the kernel spreads
requests. On SIGTERM uvicorn stops accepting and lets requests in flight finish, persist
included, for up to MAILBUS_SHUTDOWN_GRACE seconds.
"""

from __future__ import annotations

import logging
import os
import socket

import uvicorn

from listener.http.app import build_app
from listener.persist import Persister
from listener.server import supervise
from mailbus import malloc
from mailbus.connections import redis_connection
from mailbus.logs import log_event
from mailbus.settings import Settings
from mailbus.stores import open_store

log = logging.getLogger("mailbus.ingress")
SECRETS = ("MAILBUS_SES_TOPICS", "MAILBUS_MAILGUN_SIGNING_KEY", "MAILBUS_POSTMARK_AUTH",
           "MAILBUS_SENDGRID_AUTH")  # fmt: skip


def serve(settings: Settings, *, processes: int = 1) -> int:
    """Run the ingress until SIGTERM/SIGINT; return the process exit code."""
    enabled = [settings.ses_topics, settings.mailgun_signing_key, settings.postmark_auth,
               settings.sendgrid_auth]  # fmt: skip
    if not any(enabled):
        log_event(log, "ingress.no_provider", level=logging.ERROR,
                  hint="set at least one of " + ", ".join(SECRETS))  # fmt: skip
        return 2
    malloc.return_big_buffers()
    if processes <= 1:
        return run_process(settings)
    return supervise(settings, processes, run=run_process)


def run_process(settings: Settings) -> int:
    try:
        sock = bind(settings.host, settings.ingress_port)
    except OSError as exc:
        log_event(log, "ingress.bind_failed", level=logging.ERROR, error=repr(exc))
        return 1
    connection = redis_connection(
        settings.redis_url, fail_fast=True, timeout=settings.persist_timeout
    )
    store = open_store(
        settings.store, connection, raw_ttl=settings.raw_ttl, timeout=settings.persist_timeout
    )
    app = build_app(settings, Persister(settings, store, connection))
    config = uvicorn.Config(
        app,
        log_config=None,  # our JSON lines on stdout (mailbus.logs), not uvicorn's
        access_log=False,  # app.py logs each request with its outcome
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace),
    )
    log_event(log, "ingress.ready", host=settings.host, port=sock.getsockname()[1],
              pid=os.getpid())  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])
    log_event(log, "ingress.stopped", pid=os.getpid())
    return 0


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock
