"""Workers can scale from zero: a real `mailbus listen` with no worker at all publishes the queue
depth and the oldest waiting age (EMF lines on stdout and /metrics) while mail piles up, from one
process even with --processes 2; once a real worker starts, both fall back to zero."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from mailbus.redis_server import RedisServer, free_port
from tests.e2e.harness import Listener, mailbus_env, multipart_message, send
from tests.observability.procs import Worker, log_lines, scrape, value
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e
SENT = 3


def _emf(listener: Listener) -> list[dict[str, Any]]:
    return [line for line in log_lines(listener.log) if "_aws" in line]


def _scraped(listener: Listener) -> tuple[float, float]:
    samples = scrape(int(listener.env["MAILBUS_METRICS_PORT"]))
    return (
        value(samples, "mailbus_queue_depth", queue="mailbus"),
        value(samples, "mailbus_queue_oldest_age_seconds", queue="mailbus"),
    )


@pytest.mark.parametrize("processes", ["1", "2"])
def test_listener_alone_publishes_the_backlog_and_a_worker_drains_it(
    processes: str, tmp_path: Path, real_redis: redis.Redis, redis_server: RedisServer
) -> None:
    env = mailbus_env(tmp_path, redis_server.url, "redis", MAILBUS_EMF_INTERVAL="1")
    listener_env = {**env, "MAILBUS_METRICS_PORT": str(free_port())}
    with Listener(listener_env, "--processes", processes) as listener:
        wait_for(lambda: _emf(listener), "the listener's first queue-depth line")
        assert _emf(listener)[0]["QueueDepth"] == 0
        assert _emf(listener)[0]["OldestWaitingAge"] == 0
        for n in range(SENT):
            code, reply = send(listener.port, multipart_message(f"waits {n}"))
            assert code == 250, reply

        # Nothing takes the jobs: the depth stays at what was sent and the age keeps rising.
        backlog = wait_for(
            lambda: (
                len(full := [e for e in _emf(listener) if e["QueueDepth"] == SENT]) >= 3 and full
            ),
            "three lines with the whole backlog",
        )
        ages = [line["OldestWaitingAge"] for line in backlog]
        assert ages == sorted(ages) and ages[-1] - ages[0] >= 1.5, ages
        depth, age = _scraped(listener)
        assert depth == SENT and age >= ages[-1]

        lines_before_worker = len(_emf(listener))
        worker_env = {**env, "MAILBUS_METRICS_PORT": str(free_port())}
        with Worker(worker_env, log=tmp_path / "worker.log"):
            wait_for(
                lambda: [
                    e
                    for e in _emf(listener)[lines_before_worker:]
                    if e["QueueDepth"] == 0 and e["OldestWaitingAge"] == 0
                ],
                "the listener's line back at zero",
            )
            wait_for(lambda: _scraped(listener) == (0, 0), "the gauges back at zero")

        # One publisher per listener, whatever --processes says: at most a line per interval.
        stamps = [line["_aws"]["Timestamp"] / 1000 for line in _emf(listener)]
        assert len(stamps) <= stamps[-1] - stamps[0] + 2, stamps
