"""Dead letters for `mailbus failed`: list them with their reason, put them back on the queue.

A dead letter is a job in RQ's FailedJobRegistry for the mailbus queue: a DeliveryError (no
route, unparseable), a handler that kept failing through every retry, or a poison message that
killed workers. Requeueing gives it a fresh retry budget and a clean crash count; handlers that
already succeeded for it are still skipped (the ledger), so only the failed ones run again.
It lives in mailbus/ because `mailbus failed` and the console requeue through the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from mailbus.queue import message_queue
from mailbus.settings import Settings
from mailbus.status import record
from mailbus.stores import open_store
from mailbus.stores.base import done_key


def crash_key(message_id: str) -> str:
    """How many times `message_id` killed a worker (the ledger counts, a requeue clears)."""
    return f"mailbus:ledger:crashes:{message_id}"


@dataclass(frozen=True)
class DeadLetter:
    """One failed message: its id, when it failed (epoch seconds), why, and its envelope."""

    id: str
    failed_at: float | None
    reason: str
    envelope: dict[str, Any] = field(default_factory=dict)

    @property
    def when(self) -> float | None:
        return self.failed_at


def _registry(connection: redis.Redis, settings: Settings) -> FailedJobRegistry:
    return FailedJobRegistry(queue=message_queue(connection, settings), serializer=JSONSerializer)


def list_failed(connection: redis.Redis, settings: Settings) -> list[DeadLetter]:
    """Every dead letter, oldest first."""
    letters = []
    for job_id in _registry(connection, settings).get_job_ids():
        try:
            job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
        except NoSuchJobError:
            continue
        result = job.latest_result()
        text = (result.exc_string if result is not None else None) or ""
        lines = [line for line in text.strip().splitlines() if line.strip()]
        when = job.ended_at or (result.created_at if result is not None else None)
        letters.append(
            DeadLetter(
                id=job.id,
                failed_at=when.timestamp() if when is not None else None,
                reason=lines[-1].strip() if lines else "unknown (no exception recorded)",
                envelope=dict(job.kwargs.get("envelope") or {}),
            )
        )
    return letters


def requeue(connection: redis.Redis, settings: Settings, message_id: str) -> bool:
    """Put one dead letter back on the queue; False when `message_id` is not a dead letter."""
    registry = _registry(connection, settings)
    try:
        job = Job.fetch(message_id, connection=connection, serializer=JSONSerializer)
    except NoSuchJobError:
        return False
    if message_id not in registry.get_job_ids(cleanup=False):
        return False
    job.retries_left = settings.retries or None
    job.save(include_meta=False, include_result=False)
    try:
        registry.requeue(job)
    except InvalidJobOperation:
        return False
    connection.delete(crash_key(message_id))
    record(connection, message_id, settings.dedupe_window, {"event": "requeued", "by": "admin"})
    # Drop the finished marker so reconcile would find the message again if Redis lost the job.
    open_store(settings.store, connection, raw_ttl=settings.raw_ttl).delete(done_key(message_id))
    return True


def requeue_all(connection: redis.Redis, settings: Settings) -> int:
    """Requeue every dead letter; return how many were put back."""
    ids = _registry(connection, settings).get_job_ids()
    return sum(1 for message_id in ids if requeue(connection, settings, message_id))
