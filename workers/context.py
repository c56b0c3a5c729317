"""The per-process worker context: settings, Redis client, store, router and ledger, built once
when a worker process boots and read by every job it runs, so a job never reads the
environment, imports the user's router or opens connections on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from mailbus.connections import redis_connection
from mailbus.router import Router
from mailbus.settings import Settings
from mailbus.stores import open_store
from mailbus.stores.base import Store
from workers import auth
from workers.ledger import Ledger


@dataclass(frozen=True)
class Context:
    settings: Settings
    connection: redis.Redis
    store: Store
    router: Router
    ledger: Ledger


_current: Context | None = None


def build(settings: Settings, router: Router, connection: redis.Redis | None = None) -> Context:
    """Open what a worker process needs; `connection` lets tests pass a fakeredis client."""
    connection = connection if connection is not None else redis_connection(settings.redis_url)
    store = open_store(settings.store, connection, raw_ttl=settings.raw_ttl)
    ledger = Ledger(connection, window=settings.dedupe_window)
    auth.preload(settings)
    return Context(settings, connection, store, router, ledger)


def install(context: Context | None) -> None:
    """Make `context` the one jobs in this process use (None uninstalls it)."""
    global _current
    _current = context


def current() -> Context:
    if _current is None:
        raise RuntimeError(
            "workers.jobs.process_message ran in a process without a mailbus worker context: "
            "run workers with `mailbus worker` (workers.pool.run), not `rq worker`"
        )
    return _current
