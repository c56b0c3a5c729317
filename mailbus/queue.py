"""The job contract between listener and workers: which function, which arguments, which options.

The listener enqueues the job by its dotted name (`workers.jobs.process_message`), so it never
imports the workers. Arguments are a few JSON primitives; the bytes live in the store.

`enqueue_message` is the contract, through RQ's own `Queue.enqueue`. `JobWriter` is the
listener's fast path to the same records: RQ spends about 100 µs of Python per job, so the writer
asks RQ once for the fields every message job shares and fills in only what differs.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import redis
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.utils import now, utcformat

from mailbus.envelope import Envelope
from mailbus.settings import Settings

JOB_FUNCTION = "workers.jobs.process_message"
_OWN = ("created_at", "enqueued_at", "description", "data")  # all else is the same for every job


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


# KEYS: rq:queues, the queue's list, then each job's hash.
# ARGV: the count then the name/value pairs every job shares; the count then the names of the
# fields each job has its own value for; then per job its id and those values.
_ENQUEUE = """
local shared = tonumber(ARGV[1])
local hash = {}
for i = 1, shared do hash[i] = ARGV[1 + i] end
local names = shared + 2
local own = tonumber(ARGV[names])
local at = names + own + 1
redis.call('SADD', KEYS[1], KEYS[2])
for k = 3, #KEYS do
  for i = 1, own do
    hash[shared + 2 * i - 1] = ARGV[names + i]
    hash[shared + 2 * i] = ARGV[at + i]
  end
  redis.call('HSET', KEYS[k], unpack(hash))
  redis.call('RPUSH', KEYS[2], ARGV[at])
  at = at + own + 1
end
"""


class JobWriter:
    """Enqueues message jobs as `enqueue_message` would, a whole group in one Lua script.

    The shared fields come from a job that `enqueue_message` itself built (on a pipeline that is
    never executed), so options stay defined in one place; a test pins the two paths equal."""

    def __init__(self, connection: redis.Redis, settings: Settings) -> None:
        queue = message_queue(connection, settings)
        queue.redis_server_version = (0, 0, 0)  # else RQ asks Redis (maybe down); not recorded
        with connection.pipeline() as discarded:
            discarded.multi()
            sample = enqueue_message(
                queue,
                settings,
                message_id="template",
                raw_key="",
                envelope=Envelope(),
                digest="",
                pipeline=discarded,
            )
        fields = sample.to_dict()
        shared = [
            item for name, value in fields.items() if name not in _OWN for item in (name, value)
        ]
        self._header = [len(shared), *shared, len(_OWN), *_OWN]
        self._keys = [queue.redis_queues_keys, queue.key]
        self._job_key = queue.job_class.key_for
        self._dumps = queue.serializer.dumps

    def enqueue(self, pipeline: Any, jobs: Sequence[MessageJob]) -> None:
        """Queue the group's writes on `pipeline` (the caller's MULTI/EXEC)."""
        stamp = utcformat(now())  # the whole group is created and enqueued now
        keys = list(self._keys)
        args = list(self._header)
        for job in jobs:
            keys.append(self._job_key(job.message_id))
            data = self._dumps((JOB_FUNCTION, None, (), job.kwargs()))  # as RQ's Job.data
            args += (  # the id, then the values of _OWN in its order
                job.message_id,
                stamp,
                stamp,
                _description(job.message_id),
                zlib.compress(data),
            )
        pipeline.eval(_ENQUEUE, len(keys), *keys, *args)
