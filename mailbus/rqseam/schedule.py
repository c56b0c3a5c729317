"""Retries scheduled for later: RQ's scheduler (and its cluster-wide lock) stepped by the worker
supervisor, and the same promotion done inline by burst mode."""

from __future__ import annotations

import time

import redis
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer


class Scheduler:
    """RQ's scheduler for one queue, stepped by the supervisor's loop; RQ's scheduler lock
    keeps it to one per cluster."""

    def __init__(self, connection: redis.Redis, queue: str, *, name: str, level: str) -> None:
        self._rq = RQScheduler([queue], connection=connection, serializer=JSONSerializer,
                               name=name, logging_level=level)  # fmt: skip

    def step(self) -> None:
        """Take the lock if it is free, then move due retries onto the queue if we hold it."""
        if self._rq.should_reacquire_locks:
            self._rq.acquire_locks()
        if self._rq.acquired_locks:
            self._rq.heartbeat()
            self._rq.enqueue_scheduled_jobs()

    def release(self) -> None:
        if self._rq.acquired_locks:
            self._rq.release_locks()


def enqueue_due(queue: Queue) -> int:
    """Move scheduled retries whose time has come onto the queue, in one transaction. MULTI
    comes first: RQ's enqueue_job calls it on the pipeline we pass and refuses when commands
    were queued before it."""
    registry = ScheduledJobRegistry(queue=queue, serializer=JSONSerializer)
    due = registry.get_jobs_to_schedule()
    if not due:
        return 0
    found = Job.fetch_many(due, connection=queue.connection, serializer=JSONSerializer)
    with queue.connection.pipeline() as pipe:
        pipe.multi()
        for job_id, job in zip(due, found, strict=True):
            registry.remove(job_id, pipeline=pipe)
            if job is not None:
                queue.enqueue_job(job, pipeline=pipe)
        pipe.execute()
    return len(due)


def next_due(queue: Queue) -> tuple[int, float | None]:
    """How many retries are scheduled, and in how many seconds the first falls due."""
    registry = ScheduledJobRegistry(queue=queue, serializer=JSONSerializer)
    with queue.connection.pipeline(transaction=False) as pipe:
        pipe.zcard(registry.key)
        pipe.zrange(registry.key, 0, 0, withscores=True)
        count, first = pipe.execute()
    if not first:
        return int(count), None
    return int(count), max(0.0, float(first[0][1]) - time.time())
