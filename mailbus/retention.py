"""MAILBUS_RETENTION for the parts no TTL covers: the file store's sweep and the hold on messages
that are not finished.

Redis keys carry their TTL (raw bytes and attachments MAILBUS_REDIS_RAW_TTL, status records, the
ledger and the index MAILBUS_DEDUPE_WINDOW, finished jobs the dedupe window, dead letters the
retention; each at most MAILBUS_RETENTION), and S3 objects the bucket's expiry rule
(mailbus.stores.lifecycle). The file store has neither, so the worker supervisor sweeps it: every
file not written or renewed within the retention goes. What must stay is held the same way in
every store: the raw bytes of a message that is still queued, retrying, running or dead-lettered
are renewed once half their lifetime has passed (`Store.renew`; the lifetime is the retention, or
the shorter Redis raw TTL), and the file sweep skips them too, so they go only a lifetime after
the message is done or its dead letter expired.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import redis
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

from mailbus.errors import StoreError
from mailbus.ids import id_time
from mailbus.logs import log_event
from mailbus.queue import message_queue
from mailbus.rqseam.layout import ask_job_status
from mailbus.settings import Settings
from mailbus.stores.base import ATTACHMENT_PREFIX, DONE_PREFIX, RAW_PREFIX, Store, raw_key
from mailbus.stores.file import FileStore

logger = logging.getLogger("mailbus.retention")
LOCK = "mailbus:retention:lock"
_UNFINISHED = {"queued", "started", "deferred", "scheduled", "failed"}


@dataclass
class Swept:
    renewed: int = 0
    removed: int = 0


def interval(settings: Settings) -> float:
    """Seconds between sweeps: hourly, or more often for lifetimes shorter than a day."""
    return float(min(3600, max(1, settings.raw_ttl // 24)))


def lifetime(store: Store, settings: Settings) -> int:
    """How long the store keeps a key that nobody renews (Redis: its raw TTL)."""
    return settings.raw_ttl if store.url == "redis" else settings.retention


def unfinished(connection: redis.Redis, settings: Settings) -> set[str]:
    """Ids of the messages whose job still waits, runs, retries or is a dead letter."""
    queue = message_queue(connection, settings)
    ids = set(queue.get_job_ids())
    for registry in (StartedJobRegistry, ScheduledJobRegistry, DeferredJobRegistry,
                     FailedJobRegistry):  # fmt: skip
        ids.update(registry(queue=queue).get_job_ids(cleanup=False))
    return ids


def sweep(
    connection: redis.Redis, store: Store, settings: Settings, *, now: float | None = None
) -> Swept:
    """Renew what unfinished messages need, then (file store) remove what outlived the
    retention. Idempotent; the supervisor runs it every `interval` under a lock."""
    now = time.time() if now is None else now
    swept = Swept()
    held = unfinished(connection, settings)
    for message_id in sorted(held):
        old = _made(message_id) < now - lifetime(store, settings) / 2
        if old and store.renew(raw_key(message_id)):
            swept.renewed += 1
            log_event(logger, "retention.held", id=message_id)
    if isinstance(store, FileStore):
        for key in _expired(store, now - settings.retention):
            message_id = key.split("/", 1)[1]
            if key.startswith(ATTACHMENT_PREFIX) or not _still_needed(connection, message_id,
                                                                      held):  # fmt: skip
                store.delete(key)
                swept.removed += 1
                log_event(logger, "retention.removed", id=message_id, key=key)
    if swept.renewed or swept.removed:
        log_event(logger, "retention.swept", renewed=swept.renewed, removed=swept.removed)
    return swept


def _expired(store: FileStore, before: float) -> Iterator[str]:
    for prefix in (RAW_PREFIX, DONE_PREFIX, ATTACHMENT_PREFIX, "probe/"):
        yield from list(store.older_than(prefix, before))


def _still_needed(connection: redis.Redis, message_id: str, held: set[str]) -> bool:
    """Unfinished at the start of the sweep, or since (a job record that is not finished: a
    job a batch took off the queue, a reconciled one)."""
    if message_id in held:
        return True
    status = ask_job_status(connection, message_id)
    return status is not None and (status.decode() if isinstance(status, bytes) else str(status)
                                   ) in _UNFINISHED  # fmt: skip


def _made(message_id: str) -> float:
    try:
        return id_time(message_id)
    except ValueError:  # not one of our ids: treat as old, renewing it is harmless
        return 0.0


class Sweeper:
    """The supervisor's tick: one sweep per `interval` across every worker supervisor sharing
    this Redis (a lock), and the S3 expiry rule checked once at start."""

    def __init__(self, connection: redis.Redis, store: Store, settings: Settings) -> None:
        self.connection = connection
        self.store = store
        self.settings = settings
        self.every = interval(settings)
        self.next_at = 0.0
        self.started = False

    def tick(self) -> None:
        if not self.started:
            self.started = True
            ensure_store_expiry(self.store, self.settings)
        now = time.monotonic()
        if now < self.next_at:
            return
        self.next_at = now + self.every
        if self.connection.set(LOCK, "1", nx=True, ex=max(1, int(self.every))):
            sweep(self.connection, self.store, self.settings)


def ensure_store_expiry(store: Store, settings: Settings) -> None:
    """S3 only: make sure the bucket expires the store's objects (mailbus.stores.lifecycle).
    A role without the lifecycle permissions logs why instead of failing the worker."""
    if not store.url.startswith("s3://"):
        return
    from mailbus.stores.lifecycle import ensure_expiry, expiry_days
    from mailbus.stores.s3 import S3Store

    assert isinstance(store, S3Store)
    try:
        outcome = ensure_expiry(store, settings.retention)
    except StoreError as exc:
        log_event(logger, "retention.s3_expiry_unchecked", level=logging.WARNING, error=str(exc),
                  days=expiry_days(settings.retention))  # fmt: skip
        return
    log_event(logger, "retention.s3_expiry", outcome=outcome, store=store.url,
              days=expiry_days(settings.retention))  # fmt: skip
