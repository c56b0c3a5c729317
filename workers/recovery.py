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
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.results import Result
from rq.serializers import JSONSerializer
from rq.utils import utcparse
from rq.worker import SimpleWorker

from mailbus.errors import StoreError
from mailbus.logs import log_event
from mailbus.stores.base import Store, done_key
from workers import metrics as worker_metrics
from workers.ledger import Ledger

logger = logging.getLogger("mailbus.worker")
_EPOCH = datetime.fromtimestamp(0, UTC)


def worker_key(name: str) -> str:
    return SimpleWorker.redis_worker_namespace_prefix + name


def started_jobs(connection: redis.Redis, queue: Queue, name: str) -> tuple[Job | None, list[Job]]:
    """The job worker `name` was running (the one its RQ worker hash names as current), and
    the other jobs it had started and not finished: a batching worker (workers.batch) starts
    several jobs at once, and those had not begun."""
    current = connection.hget(worker_key(name), "current_job")
    current_id = current.decode() if isinstance(current, bytes) else current
    candidates = [current_id] if current_id else []
    for found_id, execution_id in queue.started_job_registry.get_job_and_execution_ids(
        cleanup=False
    ):
        if found_id in candidates:
            continue
        try:
            execution = Execution.fetch(execution_id, found_id, connection)
        except ValueError:
            continue
        if execution.worker_name == name:
            candidates.append(found_id)
    running, others = None, []
    for candidate in candidates:
        try:
            job = Job.fetch(candidate, connection=connection, serializer=JSONSerializer)
        except NoSuchJobError:
            continue
        if job.get_status() != JobStatus.STARTED or job.worker_name != name:
            continue
        if job.id == current_id:
            running = job
        else:
            others.append(job)
    return running, others


def overdue(connection: redis.Redis, name: str, grace: float) -> str | None:
    """The id of the job worker `name` has run for longer than its timeout + `grace`, if any."""
    job_id = connection.hget(worker_key(name), "current_job")
    if not job_id:
        return None
    job_id = job_id.decode() if isinstance(job_id, bytes) else str(job_id)
    started, timeout = connection.hmget(f"rq:job:{job_id}", ["started_at", "timeout"])
    if not started or not timeout or float(timeout) < 0:
        return None
    started_at = utcparse(started.decode() if isinstance(started, bytes) else str(started))
    running = (datetime.now(UTC) - started_at).total_seconds()
    return job_id if running > float(timeout) + grace else None


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
    running, others = started_jobs(connection, queue, death.name)
    _forget_worker(connection, death.name)  # first: the rerun may then take over its claim
    # Started with a batch, never begun: no crash to count. Each goes to the front, so the
    # last first: they end up in their queue order, the running one before them.
    for job in sorted(others, key=lambda j: j.enqueued_at or _EPOCH, reverse=True):
        requeue(connection, queue, job)
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
        _fail(connection, queue, job, death.name, reason)
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
        requeue(connection, queue, job)
        ledger.event(job.id, "requeued", cause=death.cause, crashes=crashes)
        log_event(logger, "message.requeued", level=logging.WARNING, id=job.id,
                  cause=death.cause, crashes=crashes, worker=death.name)  # fmt: skip
    return job.id


def requeue(connection: redis.Redis, queue: Queue, job: Job) -> None:
    """Put a started job back at the front of the queue, its executions dropped."""
    executions = job.get_executions()
    with connection.pipeline() as pipe:
        pipe.multi()  # RQ's enqueue_job calls multi() itself unless we did first
        for execution in executions:
            execution.delete(job=job, pipeline=pipe)
        pipe.lrem(queue.intermediate_queue_key, 0, job.id)
        queue.enqueue_job(job, pipeline=pipe, at_front=True)
        pipe.execute()


def _fail(connection: redis.Redis, queue: Queue, job: Job, name: str, reason: str) -> None:
    executions = job.get_executions()
    with connection.pipeline() as pipe:
        pipe.multi()
        for execution in executions:
            execution.delete(job=job, pipeline=pipe)
        pipe.lrem(queue.intermediate_queue_key, 0, job.id)
        job.retries_left = 0
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        job.failed_job_registry.add(job, ttl=job.failure_ttl, exc_string=reason, pipeline=pipe)
        Result.create_failure(job, job.failure_ttl, exc_string=reason, worker_name=name,
                              pipeline=pipe)  # fmt: skip
        pipe.execute()


def _forget_worker(connection: redis.Redis, name: str) -> None:
    """Unregister the dead worker so `rq info` does not show a ghost for worker_ttl seconds."""
    worker = SimpleWorker.find_by_key(
        worker_key(name), connection=connection, serializer=JSONSerializer
    )
    if worker is not None:
        worker.register_death()
