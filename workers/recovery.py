"""Putting back the job of a worker process that died mid-job (SIGKILL, OOM killer, a hard
time-limit kill), at once instead of after RQ's abandoned-job sweep (~1.5 to ~15 minutes).

The supervisor knows each child's RQ worker name, so it reads the job the child was running
from RQ's worker hash (falling back to the executions in the StartedJobRegistry). A death while
running a message counts against that message in the ledger; below `poison_crashes` the job goes
back to the front of the queue without spending one of its handler retries, at the limit it is
dead-lettered as a poison message (it would otherwise kill workers forever).
"""

from __future__ import annotations

import logging
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

from mailbus.logs import log_event
from mailbus.stores.base import Store, done_key
from workers.ledger import Ledger

logger = logging.getLogger("mailbus.worker")


def worker_key(name: str) -> str:
    return SimpleWorker.redis_worker_namespace_prefix + name


def running_job(connection: redis.Redis, queue: Queue, name: str) -> Job | None:
    """The job worker `name` was running and that is still STARTED by it, else None."""
    job_id = connection.hget(worker_key(name), "current_job")
    candidates = [job_id.decode() if isinstance(job_id, bytes) else str(job_id)] if job_id else []
    if not candidates:
        for found_id, execution_id in queue.started_job_registry.get_job_and_execution_ids(
            cleanup=False
        ):
            try:
                execution = Execution.fetch(execution_id, found_id, connection)
            except ValueError:
                continue
            if execution.worker_name == name:
                candidates.append(found_id)
    for candidate in candidates:
        try:
            job = Job.fetch(candidate, connection=connection, serializer=JSONSerializer)
        except NoSuchJobError:
            continue
        if job.get_status() == JobStatus.STARTED and job.worker_name == name:
            return job
    return None


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


def recover(
    connection: redis.Redis,
    queue: Queue,
    ledger: Ledger,
    store: Store | None,
    *,
    name: str,
    cause: str,
    crashed: bool,
    poison_crashes: int,
) -> str | None:
    """Requeue (or dead-letter as poison) the job worker `name` left behind; return its id."""
    job = running_job(connection, queue, name)
    if job is not None:
        crashes = ledger.add_crash(job.id) if crashed else 0
        if crashes >= poison_crashes:
            reason = (
                f"PoisonMessage: worker processes died {crashes} times while processing this "
                f"message (last: {cause})"
            )
            _fail(connection, queue, job, name, reason)
            ledger.event(job.id, "dead", reason=reason)
            if store is not None:
                store.put(done_key(job.id), b"dead")
            log_event(logger, "message.dead", level=logging.ERROR, id=job.id, reason=reason)
        else:
            _requeue(connection, queue, job)
            ledger.event(job.id, "requeued", cause=cause, crashes=crashes)
            log_event(logger, "message.requeued", level=logging.WARNING, id=job.id,
                      cause=cause, crashes=crashes, worker=name)  # fmt: skip
    _forget_worker(connection, name)
    return job.id if job is not None else None


def _requeue(connection: redis.Redis, queue: Queue, job: Job) -> None:
    with connection.pipeline() as pipe:
        for execution in job.get_executions():
            execution.delete(job=job, pipeline=pipe)
        pipe.lrem(queue.intermediate_queue_key, 0, job.id)
        queue.enqueue_job(job, pipeline=pipe, at_front=True)
        pipe.execute()


def _fail(connection: redis.Redis, queue: Queue, job: Job, name: str, reason: str) -> None:
    with connection.pipeline() as pipe:
        for execution in job.get_executions():
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
