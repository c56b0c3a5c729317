"""Where RQ keeps things in Redis: the keys of queues, jobs and workers, and the reads of its
lists, hashes and registries that mailbus makes itself (counts for metrics and back-pressure, a
worker's current job, job timestamps). Keys come from RQ's own helpers and class prefixes."""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.results import Result
from rq.utils import utcparse
from rq.worker import SimpleWorker


def queue_key(name: str) -> str:
    """The Redis list of queue `name` (what `Queue(name).key` is)."""
    return Queue.redis_queue_namespace_prefix + name


def job_key(job_id: str) -> str:
    return Job.key_for(job_id)


def ask_job_status(pipe: Any, job_id: str) -> Any:
    """Queue on `pipe` (or run on a connection) the read of a job's RQ status (bytes or None)."""
    return pipe.hget(job_key(job_id), "status")


def ask_job_data(pipe: Any, job_id: str) -> Any:
    """Queue on `pipe` the read of a job's stored call (decode it with `job_kwargs`)."""
    return pipe.hget(job_key(job_id), "data")


def job_kwargs(data: bytes) -> dict[str, Any]:
    """The keyword arguments in a job's stored call: RQ keeps (function, instance, args, kwargs)
    serialised (JSON here) and zlib-compressed. Raises ValueError, LookupError or zlib.error
    on anything else."""
    kwargs = json.loads(zlib.decompress(data))[3]
    if not isinstance(kwargs, dict):
        raise ValueError("the job's kwargs are not a mapping")
    return kwargs


def result_key(job_id: str) -> str:
    """The stream of a job's results (RQ's `Result` records)."""
    return Result.get_key(job_id)


def worker_key(name: str) -> str:
    return SimpleWorker.redis_worker_namespace_prefix + name


def count_queued(pipe: Any, queue: str) -> None:
    """Queue on `pipe` the command that answers how many jobs wait in `queue`."""
    pipe.llen(queue_key(queue))


def queue_counts(connection: redis.Redis, queue: str) -> tuple[int, int]:
    """(depth, dead letters) of `queue` in one round trip. Depth is what still waits to run:
    the queue list plus retries scheduled for later; dead letters are RQ's failed registry."""
    with connection.pipeline(transaction=False) as pipe:
        count_queued(pipe, queue)
        pipe.zcard(ScheduledJobRegistry(queue, connection=connection).key)
        pipe.zcard(FailedJobRegistry(queue, connection=connection).key)
        waiting, scheduled, failed = pipe.execute()
    return int(waiting) + int(scheduled), int(failed)


def taken(connection: redis.Redis, queue: Queue) -> int:
    """How many jobs workers have dequeued and not yet marked started (RQ's intermediate list)."""
    return int(connection.llen(queue.intermediate_queue_key))  # type: ignore[arg-type]


def run_times(connection: redis.Redis, job_ids: Sequence[str]) -> list[tuple[Any, Any]]:
    """(started_at, ended_at) of each job as RQ stored them (bytes, None when not set)."""
    with connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hmget(job_key(job_id), "started_at", "ended_at")
        return [tuple(pair) for pair in pipe.execute()]


def parse_time(value: bytes | str) -> datetime:
    return utcparse(value.decode() if isinstance(value, bytes) else value)


def worker_alive(connection: redis.Redis, name: str) -> bool:
    """Whether worker `name` is registered and has not reported its death."""
    key = worker_key(name)
    return bool(connection.exists(key)) and not connection.hexists(key, "death")


def current_job_id(connection: redis.Redis, name: str) -> str | None:
    """The job worker `name` is running: the one its RQ worker hash names as current."""
    found = connection.hget(worker_key(name), "current_job")
    return found.decode() if isinstance(found, bytes) else (str(found) if found else None)


def running_for(connection: redis.Redis, name: str) -> tuple[str, float, float] | None:
    """(job id, seconds it has run, its timeout) of worker `name`'s current job, if it has one
    with a time limit."""
    job_id = current_job_id(connection, name)
    if not job_id:
        return None
    started, timeout = connection.hmget(job_key(job_id), ["started_at", "timeout"])
    if not started or not timeout or float(timeout) < 0:
        return None
    return job_id, time.time() - parse_time(started).timestamp(), float(timeout)
