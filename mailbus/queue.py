"""The job contract between listener and workers: which function, which arguments, which options.

The listener enqueues the job by its dotted name (`workers.jobs.process_message`), so it never
imports the workers. Arguments are a few JSON primitives; the bytes live in the store.
"""

from __future__ import annotations

from typing import Any

import redis
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

from mailbus.envelope import Envelope
from mailbus.settings import Settings

JOB_FUNCTION = "workers.jobs.process_message"


def message_queue(connection: redis.Redis, settings: Settings) -> Queue:
    return Queue(settings.queue, connection=connection, serializer=JSONSerializer)


def enqueue_message(
    queue: Queue,
    settings: Settings,
    *,
    message_id: str,
    raw_key: str,
    envelope: Envelope,
    digest: str,
    pipeline: Any = None,
) -> Job:
    """Enqueue one message; with `pipeline` the job commits in the caller's MULTI/EXEC."""
    retry = (
        Retry(max=settings.retries, interval=list(settings.retry_backoff))
        if settings.retries
        else None
    )
    return queue.enqueue(
        JOB_FUNCTION,
        kwargs={
            "message_id": message_id,
            "raw_key": raw_key,
            "envelope": envelope.to_dict(),
            "digest": digest,
        },
        job_id=message_id,
        retry=retry,
        job_timeout=settings.job_timeout,
        result_ttl=settings.dedupe_window,
        failure_ttl=365 * 86_400,
        description=f"message {message_id}",
        pipeline=pipeline,
    )
