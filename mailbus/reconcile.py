"""Re-enqueue stored messages that have no job: the S3 and file stores are the record of truth.

A raw object exists only because the listener stored it before answering (or trying to answer)
250. If Redis then lost the job (failover, restart without AOF, an enqueue that failed after the
store succeeded), the object stays in `raw/` with neither an RQ job hash nor the `done/<id>`
marker the worker writes when a message is done or dead. `reconcile` finds those and enqueues
them exactly like the listener does, rebuilding the envelope from the stored trace headers.
Objects younger than `grace` are left alone: their session may still be between store and
enqueue. With the Redis store raw bytes and job commit in one MULTI/EXEC, so it is a no-op.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import redis

from mailbus.ids import id_floor, id_time
from mailbus.logs import log_event
from mailbus.queue import enqueue_message, message_queue
from mailbus.rqseam.layout import job_key
from mailbus.settings import Settings
from mailbus.stores.base import RAW_PREFIX, Store, done_key, raw_key
from mailbus.trace import delivery_digest, split_trace

logger = logging.getLogger("mailbus.reconcile")
BATCH = 500


def reconcile(
    connection: redis.Redis,
    store: Store,
    settings: Settings,
    *,
    grace: float = 600.0,
    lookback: float = 7 * 86_400,
    now: float | None = None,
) -> int:
    """Enqueue every raw object older than `grace` (and newer than `lookback`) that has no job
    and no done marker; return how many were enqueued."""
    if store.url == "redis":
        return 0
    now = time.time() if now is None else now
    queue = message_queue(connection, settings)
    enqueued = 0
    for batch in _batches(_candidates(store, now - lookback, now - grace)):
        with connection.pipeline(transaction=False) as pipe:
            for message_id in batch:
                pipe.exists(job_key(message_id))
            has_job = pipe.execute()
        for message_id, known in zip(batch, has_job, strict=True):
            if known or store.exists(done_key(message_id)):
                continue
            envelope, received = split_trace(store.get(raw_key(message_id)))
            enqueue_message(
                queue,
                settings,
                message_id=message_id,
                raw_key=raw_key(message_id),
                envelope=envelope,
                digest=delivery_digest(received, envelope),
            )
            enqueued += 1
            log_event(logger, "message.reconciled", level=logging.WARNING, id=message_id)
    if enqueued:
        log_event(logger, "reconcile.done", enqueued=enqueued)
    return enqueued


def _candidates(store: Store, oldest: float, newest: float) -> Iterator[str]:
    """Message ids of raw objects made between `oldest` and `newest` (ids sort by time)."""
    for key in store.keys(RAW_PREFIX, start_after=raw_key(id_floor(oldest))):
        message_id = key.removeprefix(RAW_PREFIX)
        try:
            made = id_time(message_id)
        except ValueError:  # not one of our ids (a stray file): not ours to enqueue
            continue
        if made > newest:
            return
        yield message_id


def _batches(ids: Iterator[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for message_id in ids:
        batch.append(message_id)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
