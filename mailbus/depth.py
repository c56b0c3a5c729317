"""How much mail waits, read from Redis, and the CloudWatch line that autoscaling reads it from.

Both deployables publish it: the listener (one process per `mailbus listen`, so workers can scale
from zero: nothing else runs while no worker does) and the worker supervisor. `emf_line` is the
embedded-metric-format record infra/terraform/autoscaling.tf scales the worker service on
(namespace `mailbus`, dimension `Queue`, metrics `QueueDepth` and `OldestWaitingAge`); the same
values are the Prometheus gauges of `mailbus.metrics.QueueCollector`.
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.serializers import JSONSerializer

from mailbus.rqseam.layout import queue_key

NAMESPACE = "mailbus"


class QueueLevels(NamedTuple):
    depth: int  # what still waits to run: the queue list plus retries scheduled for later
    oldest_age: float  # seconds the job at the head of the queue has waited; 0 when none waits
    dead: int  # RQ's failed registry (dead letters)


def read_levels(
    connection: redis.Redis, queue: str, *, now: datetime.datetime | None = None
) -> QueueLevels:
    """The counts in one round trip, then the head job's `enqueued_at` through RQ.

    The head is the oldest waiting job: messages are appended, and only jobs that already waited
    (a batch handed back, a dead worker's job) go back to the front."""
    with connection.pipeline(transaction=False) as pipe:
        pipe.llen(queue_key(queue))
        pipe.zcard(ScheduledJobRegistry(queue, connection=connection).key)
        pipe.zcard(FailedJobRegistry(queue, connection=connection).key)
        waiting, scheduled, failed = pipe.execute()
    age = 0.0
    head = Queue(queue, connection=connection, serializer=JSONSerializer).get_job_ids(0, 1)
    if head:
        try:
            enqueued = Job.fetch(head[0], connection=connection, serializer=JSONSerializer)
        except NoSuchJobError:  # taken and expired since LRANGE, or an orphan id: no age to tell
            enqueued = None
        if enqueued is not None and enqueued.enqueued_at is not None:
            moment = now or datetime.datetime.now(datetime.UTC)
            age = max(0.0, (moment - enqueued.enqueued_at).total_seconds())
    return QueueLevels(int(waiting) + int(scheduled), age, int(failed))


def emf_line(queue: str, levels: QueueLevels, *, now: float | None = None) -> str:
    """One CloudWatch embedded-metric-format record for `Queue=queue`: `QueueDepth` (Count) and
    `OldestWaitingAge` (Seconds)."""
    record = {
        "_aws": {
            "Timestamp": int((time.time() if now is None else now) * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Queue"]],
                    "Metrics": [
                        {"Name": "QueueDepth", "Unit": "Count"},
                        {"Name": "OldestWaitingAge", "Unit": "Seconds"},
                    ],
                }
            ],
        },
        "Queue": queue,
        "QueueDepth": levels.depth,
        "OldestWaitingAge": round(levels.oldest_age, 3),
    }
    return json.dumps(record, separators=(",", ":"))


def print_line(line: str) -> None:
    """The EMF record goes to stdout on a line of its own, like the JSON log lines."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class EmfReporter:
    """Prints `emf_line` at most once per `interval` seconds (0 = never); the first at once."""

    def __init__(
        self,
        queue: str,
        interval: float,
        levels: Callable[[], QueueLevels],
        *,
        write: Callable[[str], None] = print_line,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue = queue
        self.interval = interval
        self.levels = levels
        self.write = write
        self.clock = clock
        self.next_at: float | None = None

    def tick(self) -> bool:
        """Print a line if one is due; True if it did. A failed read waits a full interval (the
        caller logs the error), so Redis trouble cannot turn this into a busy loop."""
        if self.interval <= 0:
            return False
        now = self.clock()
        if self.next_at is not None and now < self.next_at:
            return False
        self.next_at = now + self.interval
        self.write(emf_line(self.queue, self.levels()))
        return True
