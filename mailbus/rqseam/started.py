"""Started jobs as RQ records them (the intermediate list, executions, the started and finished
registries, results, the worker hash): what the batch worker does in place of RQ's dequeue and
perform_job, and what recovery does with a dead worker's jobs."""

from __future__ import annotations

import traceback
from typing import Any

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.results import Result
from rq.serializers import JSONSerializer
from rq.utils import utcformat
from rq.worker import SimpleWorker, WorkerStatus

from mailbus.rqseam.layout import current_job_id, worker_key


def stop_requested(worker: SimpleWorker) -> bool:
    """Whether a warm stop has come (RQ keeps it in a private flag)."""
    return bool(worker._stop_requested)


def set_outcome(job: Job, status: JobStatus, return_value: Any = None) -> None:
    """What RQ's perform_job records on the job object before it handles success or failure."""
    job._status = status
    job._result = return_value


def take(worker: SimpleWorker, queue: Queue, count: int) -> list[Job]:
    """Up to `count` more waiting jobs, moved to the intermediate list in one round trip (as
    RQ's dequeue does, one at a time)."""
    if count <= 0:
        return []
    with worker.connection.pipeline(transaction=False) as pipe:
        for _ in range(count):
            pipe.lmove(queue.key, queue.intermediate_queue_key)
        ids = [i.decode() if isinstance(i, bytes) else i for i in pipe.execute() if i]
    if not ids:
        return []
    found = Job.fetch_many(ids, connection=worker.connection, serializer=worker.serializer)
    gone = [i for i, job in zip(ids, found, strict=True) if job is None]
    if gone:  # deleted meanwhile, as RQ's dequeue skips them
        worker.connection.lrem(queue.intermediate_queue_key, 0, *gone)  # type: ignore[arg-type]
    return [job for job in found if job is not None]


def start(worker: SimpleWorker, batch: list[Job], queue: Queue) -> dict[str, Execution]:
    """Mark every job of the batch started by `worker`, in one transaction (RQ's
    prepare_execution + prepare_job_execution for each); the first is the current job."""
    executions = {}
    with worker.connection.pipeline() as pipe:
        ttl = max(worker.get_heartbeat_ttl(job) for job in batch)
        for job in batch:
            executions[job.id] = Execution.create(job, ttl, pipeline=pipe, worker_name=worker.name)
            job.prepare_for_execution(worker.name, pipeline=pipe)
            pipe.lrem(queue.intermediate_queue_key, 1, job.id)
        worker.set_state(WorkerStatus.BUSY, pipeline=pipe)
        worker.set_current_job_id(batch[0].id, pipeline=pipe)
        worker.set_current_job_working_time(0, pipeline=pipe)
        worker.heartbeat(ttl, pipeline=pipe)
        pipe.execute()
    return executions


def set_current(worker: SimpleWorker, job_id: str | None, pipe: Any = None) -> None:
    """Name `job_id` as the job `worker` is running (None: no job) in its worker hash."""
    worker.set_current_job_id(job_id, pipeline=pipe)


def perform(worker: SimpleWorker, job: Job, queue: Queue) -> None:
    """Run a job that is not a mailbus job through RQ's own path (which clears current_job)."""
    worker.perform_job(job, queue)


def record_failure(worker: SimpleWorker, job: Job, queue: Queue, exc_info: Any) -> None:
    """RQ's handling of a failed job: its exception handlers, then retry or dead letter."""
    worker.handle_exception(job, *exc_info)
    text = "".join(traceback.format_exception(*exc_info))
    worker.handle_job_failure(job=job, queue=queue, started_job_registry=queue.started_job_registry,
                              exc_string=text)  # fmt: skip


def record_success(pipe: Any, worker: SimpleWorker, job: Job) -> None:
    """Queue on `pipe` RQ's handle_job_success writes for one finished job, trimmed: no
    dependents, the hash changed only in the fields execution sets (not the whole job saved
    again), and the worker's counters added once a batch (`count_successes`)."""
    result_ttl = job.get_result_ttl(worker.default_result_ttl)
    ended = utcformat(job.ended_at)  # type: ignore[arg-type]
    execution = worker.execution
    pipe.hset(job.key, mapping={"status": JobStatus.FINISHED, "ended_at": ended,
                                "started_at": utcformat(job.started_at),  # type: ignore[arg-type]
                                "last_heartbeat": ended})  # fmt: skip
    if result_ttl == 0:
        job.delete(pipeline=pipe, remove_from_queue=False)
    else:
        Result.create(job, Result.Type.SUCCESSFUL, return_value=job._result, ttl=result_ttl,
                      worker_name=worker.name, pipeline=pipe,
                      execution_id=execution.id if execution else None,
                      execution_started_at=execution.created_at if execution else None,
                      execution_ended_at=job.ended_at)  # fmt: skip
        job.finished_job_registry.add(job, result_ttl, pipe)
        if result_ttl > 0:  # negative: kept for good, as RQ does
            pipe.expire(job.key, result_ttl)
    if execution is not None:
        execution.delete(job=job, pipeline=pipe)
        worker.execution = None


def count_successes(pipe: Any, worker: SimpleWorker, jobs: int, seconds: float) -> None:
    """Queue on `pipe` RQ's per-job worker counters for `jobs` successes at once."""
    pipe.hincrby(worker.key, "successful_job_count", jobs)
    pipe.hincrbyfloat(worker.key, "total_working_time", seconds)


def by_worker(connection: redis.Redis, queue: Queue, name: str) -> tuple[Job | None, list[Job]]:
    """The job worker `name` was running, and the other jobs it had started and not finished:
    a batching worker starts several jobs at once (their executions name it)."""
    current_id = current_job_id(connection, name)
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


def fail(connection: redis.Redis, queue: Queue, job: Job, name: str, reason: str) -> None:
    """Dead-letter a started job with `reason` as its exception text, no retries left."""
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


def forget_worker(connection: redis.Redis, name: str) -> None:
    """Unregister a dead worker so `rq info` does not show a ghost for worker_ttl seconds."""
    worker = SimpleWorker.find_by_key(
        worker_key(name), connection=connection, serializer=JSONSerializer
    )
    if worker is not None:
        worker.register_death()
