"""The job contract between listener and workers: which function, which arguments, which options.

The listener enqueues the job by its dotted name (`workers.jobs.process_message`), so it never
imports the workers. Arguments are a few JSON primitives; the bytes live in the store.

`enqueue_message` is the contract, through RQ's own `Queue.enqueue`. `JobWriter` is the
listener's fast path to the same records: RQ spends about 100 µs of Python per job, so the writer
asks RQ once for the fields every message job shares and fills in only what differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import redis
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

from mailbus.envelope import Envelope
from mailbus.rqseam.enqueue import JobTemplate
from mailbus.settings import Settings

JOB_FUNCTION = "workers.jobs.process_message"


def resend_key(digest: str) -> str:
    """Set by the listener to the id of a message it committed but answered with a temporary
    failure (its write landed late, its WAIT failed, its client hung up): the sender will send
    the same bytes again, and the workers treat that copy as this one (workers.ledger)."""
    return f"mailbus:resend:{digest}"


def message_queue(connection: redis.Redis, settings: Settings) -> Queue:
    return Queue(settings.queue, connection=connection, serializer=JSONSerializer)


class MessageJob(NamedTuple):
    """The arguments of one message's job."""

    message_id: str
    raw_key: str
    envelope: Envelope
    digest: str

    def kwargs(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "raw_key": self.raw_key,
            "envelope": self.envelope.to_dict(),
            "digest": self.digest,
        }


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
        kwargs=MessageJob(message_id, raw_key, envelope, digest).kwargs(),
        job_id=message_id,
        retry=retry,
        job_timeout=settings.job_timeout,
        result_ttl=settings.dedupe_window,
        failure_ttl=settings.retention,  # a dead letter is kept no longer than its message
        description=_description(message_id),
        pipeline=pipeline,
    )


def _description(message_id: str) -> str:
    return f"message {message_id}"


class JobWriter:
    """Enqueues message jobs as `enqueue_message` would, a whole group in one Lua script
    (`mailbus.rq_enqueue.JobTemplate`).

    The shared fields come from a job that `enqueue_message` itself built (on a pipeline that is
    never executed), so options stay defined in one place; a test pins the two paths equal."""

    def __init__(self, connection: redis.Redis, settings: Settings) -> None:
        queue = message_queue(connection, settings)
        self._template = JobTemplate(
            queue,
            lambda discarded: enqueue_message(
                queue,
                settings,
                message_id="template",
                raw_key="",
                envelope=Envelope(),
                digest="",
                pipeline=discarded,
            ),
        )

    def enqueue(self, pipeline: Any, jobs: Sequence[MessageJob]) -> None:
        """Queue the group's writes on `pipeline` (the caller's MULTI/EXEC)."""
        self._template.enqueue(
            pipeline, [(job.message_id, _description(job.message_id), job.kwargs()) for job in jobs]
        )
