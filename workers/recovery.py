"""Putting back the job of a worker process that died mid-job (SIGKILL, OOM killer, a hard
time-limit kill), at once instead of after RQ's abandoned-job sweep (~1.5 to ~15 minutes).

The supervisor knows each child's RQ worker name, so it reads the job the child was running
from RQ's worker hash, and the other jobs it had started (a batch) from the executions in the
StartedJobRegistry; those go back to the front of the queue as they are. A death while
running a message counts against that message in the ledger; below `poison_crashes` the job goes
back to the front of the queue without spending one of its handler retries, at the limit it is
dead-lettered as a poison message (it would otherwise kill workers forever).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from rq import Queue

from mailbus.errors import StoreError
from mailbus.logs import log_event
from mailbus.rqseam import layout, started
from mailbus.stores.base import Store, done_key
from workers import metrics as worker_metrics
from workers.ledger import Ledger

logger = logging.getLogger("mailbus.worker")
_EPOCH = datetime.fromtimestamp(0, UTC)


def overdue(connection: redis.Redis, name: str, grace: float) -> str | None:
    """The id of the job worker `name` has run for longer than its timeout + `grace`, if any."""
    running = layout.running_for(connection, name)
    if running is None:
        return None
    job_id, seconds, timeout = running
    return job_id if seconds > timeout + grace else None


@dataclass
class Death:
    """A worker process that exited; `crashes` is counted once even if recovery is retried."""

    name: str
    cause: str
    crashed: bool
    crashes: int | None = None
    attempts: int = 0


def recover(
    connection: redis.Redis,
    queue: Queue,
    ledger: Ledger,
    store: Store | None,
    death: Death,
    *,
    poison_crashes: int,
) -> str | None:
    """Requeue (or dead-letter as poison) the jobs a dead worker left behind; return the id of
    the one it was running, if any."""
    running, others = started.by_worker(connection, queue, death.name)
    started.forget_worker(connection, death.name)  # first: the rerun may then take over its claim
    # Started with a batch, never begun: no crash to count. Each goes to the front, so the
    # last first: they end up in their queue order, the running one before them.
    for job in sorted(others, key=lambda j: j.enqueued_at or _EPOCH, reverse=True):
        started.requeue(connection, queue, job)
        log_event(logger, "message.requeued", level=logging.WARNING, id=job.id,
                  cause=death.cause, crashes=0, worker=death.name)  # fmt: skip
    if running is None:
        return None
    job = running
    if death.crashes is None:
        death.crashes = ledger.add_crash(job.id) if death.crashed else 0
    crashes = death.crashes
    if crashes >= poison_crashes:
        reason = (
            f"PoisonMessage: worker processes died {crashes} times while processing this "
            f"message (last: {death.cause})"
        )
        started.fail(connection, queue, job, death.name, reason)
        ledger.event(job.id, "dead", reason=reason)
        if store is not None:
            try:
                store.put(done_key(job.id), b"dead")
            except StoreError as exc:  # the failed job record keeps reconcile away anyway
                log_event(logger, "message.marker_failed", level=logging.WARNING,
                          id=job.id, error=str(exc))  # fmt: skip
        log_event(logger, "message.dead", level=logging.ERROR, id=job.id, reason=reason)
        worker_metrics.job_outcome("dead")
    else:
        started.requeue(connection, queue, job)
        ledger.event(job.id, "requeued", cause=death.cause, crashes=crashes)
        log_event(logger, "message.requeued", level=logging.WARNING, id=job.id,
                  cause=death.cause, crashes=crashes, worker=death.name)  # fmt: skip
    return job.id
