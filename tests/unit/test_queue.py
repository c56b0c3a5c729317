"""The listener's fast enqueue path (`JobWriter`, `record_many`) writes what the contract
(`enqueue_message`, `record`) writes: each way into its own Redis, then compared key by key."""

from __future__ import annotations

import fakeredis
import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from mailbus.envelope import Envelope
from mailbus.queue import JOB_FUNCTION, JobWriter, MessageJob, enqueue_message, message_queue
from mailbus.settings import Settings
from mailbus.status import encode, record, record_many, status_key
from tests.unit.test_envelope import ENVELOPE

STAMPS = {b"created_at", b"enqueued_at"}  # the only fields that may differ: when each was made
JOBS = [
    MessageJob("01jobone0000000000000000aa", "raw/01jobone0000000000000000aa", ENVELOPE, "d" * 64),
    MessageJob("01jobtwo0000000000000000bb", "raw/01jobtwo0000000000000000bb", Envelope(), ""),
]


def settings_with(**env: str) -> Settings:
    return Settings.from_env({"MAILBUS_DOMAINS": "example.com", **env}, env_file=None)


def enqueue_both_ways(contract: redis.Redis, fast: redis.Redis, settings: Settings) -> None:
    with contract.pipeline(transaction=True) as pipe:
        pipe.multi()
        for job in JOBS:
            enqueue_message(
                message_queue(contract, settings),
                settings,
                message_id=job.message_id,
                raw_key=job.raw_key,
                envelope=job.envelope,
                digest=job.digest,
                pipeline=pipe,
            )
        pipe.execute()
    with fast.pipeline(transaction=True) as pipe:
        JobWriter(fast, settings).enqueue(pipe, JOBS)
        pipe.execute()


def check_same_jobs(contract: redis.Redis, fast: redis.Redis, settings: Settings) -> None:
    """Same keys, same queue and rq:queues entries, same job hashes but for the timestamps, and
    RQ reads the fast path's jobs back as the arguments that went in."""
    enqueue_both_ways(contract, fast, settings)
    assert sorted(fast.keys()) == sorted(contract.keys())
    queue = message_queue(fast, settings)
    assert fast.lrange(queue.key, 0, -1) == contract.lrange(queue.key, 0, -1)
    assert fast.smembers(queue.redis_queues_keys) == contract.smembers(queue.redis_queues_keys)
    for job in JOBS:
        key = Job.key_for(job.message_id)
        ours, theirs = fast.hgetall(key), contract.hgetall(key)
        assert ours.keys() == theirs.keys()
        assert {f: v for f, v in ours.items() if f not in STAMPS} == {
            f: v for f, v in theirs.items() if f not in STAMPS
        }
        assert fast.ttl(key) == contract.ttl(key)
        fetched = Job.fetch(job.message_id, connection=fast, serializer=JSONSerializer)
        assert fetched.func_name == JOB_FUNCTION
        assert fetched.args == []
        assert fetched.kwargs == job.kwargs()
        assert fetched.created_at is not None and fetched.enqueued_at is not None


def check_same_timelines(contract: redis.Redis, fast: redis.Redis) -> None:
    events = ({"event": "received", "size": 12, "tls": False}, {"event": "queued", "q": "m"})
    with contract.pipeline(transaction=True) as pipe:
        for job in JOBS:
            record(pipe, job.message_id, 600, *events)
        pipe.execute()
    with fast.pipeline(transaction=True) as pipe:
        record_many(pipe, 600, {job.message_id: encode(*events) for job in JOBS})
        pipe.execute()
    for job in JOBS:
        key = status_key(job.message_id)
        ours, theirs = fast.lrange(key, 0, -1), contract.lrange(key, 0, -1)
        assert [item.split(b",", 1)[1] for item in ours] == [  # all but the time stamp
            item.split(b",", 1)[1] for item in theirs
        ]
        assert 0 < fast.ttl(key) <= 600 and 0 < contract.ttl(key) <= 600


def fake_pair() -> tuple[redis.Redis, redis.Redis]:
    return (
        fakeredis.FakeRedis(server=fakeredis.FakeServer()),
        fakeredis.FakeRedis(server=fakeredis.FakeServer()),
    )


@pytest.mark.parametrize("env", [{}, {"MAILBUS_RETRIES": "0"}, {"MAILBUS_QUEUE": "other"}])
def test_job_writer_writes_what_enqueue_message_writes(env: dict[str, str]) -> None:
    check_same_jobs(*fake_pair(), settings_with(**env))


def test_record_many_writes_what_record_writes() -> None:
    check_same_timelines(*fake_pair())


def test_job_writer_starts_while_redis_is_down() -> None:
    """The listener's writer builds it first thing: a Redis outage must not kill the writer."""
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.1)
    JobWriter(unreachable, settings_with())
