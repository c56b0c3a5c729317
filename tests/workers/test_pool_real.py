"""`workers.pool.run` for real: subprocesses, a real Redis server, a file store."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from mailbus import deadletters as admin
from mailbus.ids import new_message_id
from mailbus.queue import message_queue
from mailbus.router import load_router
from mailbus.settings import Settings
from mailbus.status import timeline
from mailbus.stores import open_store
from tests.conftest import ROOT, subprocess_env
from tests.waiting import wait_for
from tests.workers.conftest import EML, put_message
from workers import context
from workers.worker import enqueue_due_retries

pytestmark = pytest.mark.integration
RUN = (
    "import sys; from mailbus.settings import Settings; from workers.pool import run; "
    "sys.exit(run(Settings.from_env(role='worker', env_file=None), "
    "processes=int(sys.argv[1]), burst=sys.argv[2] == 'burst'))"
)


class Pool:
    def __init__(self, url: str, tmp_path: Path, **env: str) -> None:
        self.out = tmp_path / "calls.jsonl"
        self.log = tmp_path / "pool.log"
        defaults = {
            "MAILBUS_REDIS_URL": url,
            "MAILBUS_STORE": f"file://{tmp_path / 'store'}",
            "MAILBUS_HANDLERS": "tests.workers.handlers_proc:router",
            "MAILBUS_QUEUE": "mailbus-it",
            "MAILBUS_RETRIES": "3",
            "MAILBUS_RETRY_BACKOFF": "0",
            "MAILBUS_JOB_TIMEOUT": "60",
            "MAILBUS_TEST_OUT": str(self.out),
            "PYTHONPATH": str(ROOT),
        }
        self.env = subprocess_env(**{**defaults, **env})
        self.settings = Settings.from_env(self.env, env_file=None, role="worker")
        self.process: subprocess.Popen[bytes] | None = None

    def store(self, connection: redis.Redis) -> Any:
        return open_store(self.settings.store, connection)

    def start(self, processes: int = 1, burst: bool = False) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", RUN, str(processes), "burst" if burst else "serve"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self.process

    def burst(self, processes: int = 1, timeout: float = 60) -> int:
        return self.start(processes, burst=True).wait(timeout=timeout)

    def calls(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line]

    def wait_for(self, predicate: Any, timeout: float = 30) -> None:
        try:
            wait_for(predicate, "the workers", timeout)
        except AssertionError as exc:  # with what the workers did, to see why
            raise AssertionError(
                f"{exc}; calls={self.calls()}\nlog:\n{self.log.read_text()}"
            ) from None

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def pool(real_redis: redis.Redis, redis_server: Any, tmp_path: Path) -> Any:
    made = Pool(redis_server.url, tmp_path)
    yield made
    if made.process is not None and made.process.poll() is None:
        made.process.kill()
        made.process.wait()


def job_status(connection: redis.Redis, message_id: str) -> str:
    job = Job.fetch(message_id, connection=connection, serializer=JSONSerializer)
    return str(job.get_status().value)


def test_failing_handler_retried_until_it_succeeds_sibling_runs_once(pool, real_redis) -> None:
    message_id = put_message(pool.store(real_redis), real_redis, pool.settings,
                             to=("flaky@example.com",))  # fmt: skip
    assert pool.burst(processes=2) == 0, pool.log.read_text()
    calls = pool.calls()
    assert [c["handler"] for c in calls].count("flaky") == 3
    assert [c["handler"] for c in calls].count("steady") == 1
    assert job_status(real_redis, message_id) == "finished"
    events = [e["event"] for e in timeline(real_redis, message_id)]
    assert events.count("parsed") == 3 and events[-1] == "done"
    assert '"event": "worker.ready"' in pool.log.read_text()


def test_worker_sigkilled_mid_job_has_its_job_picked_up_and_finished(pool, real_redis) -> None:
    pool.start(processes=1)
    message_id = put_message(pool.store(real_redis), real_redis, pool.settings,
                             to=("slow@example.com",))  # fmt: skip
    pool.wait_for(lambda: any(c["handler"] == "slow" for c in pool.calls()))
    victim = pool.calls()[0]["pid"]
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    pool.wait_for(lambda: len(pool.calls()) == 2, timeout=20)
    recovered_in = time.monotonic() - killed_at
    pool.wait_for(lambda: job_status(real_redis, message_id) == "finished", timeout=10)
    second = pool.calls()[1]
    assert second["handler"] == "slow" and second["pid"] != victim
    assert recovered_in < 5, f"took {recovered_in:.1f}s to run the job again"
    events = timeline(real_redis, message_id)
    assert [e for e in events if e["event"] == "requeued"][0]["crashes"] == 1
    assert pool.stop() == 0


def test_worker_sigkilled_mid_batch_loses_no_message(pool, real_redis) -> None:
    """Fast messages make the worker take batches; the kill lands on the slow one among them:
    every job it had started comes back, and each message reaches its handler once."""
    store = pool.store(real_redis)

    def put(to: str) -> str:
        body = EML.replace(b"<m1@", f"<{uuid.uuid4().hex}@".encode())
        return put_message(store, real_redis, pool.settings, to=(to,), body=body)

    fast = [put("fast@example.com") for _ in range(40)]
    slow = put("slow@example.com")
    fast += [put("fast@example.com") for _ in range(20)]
    pool.start(processes=1)
    pool.wait_for(lambda: any(c["handler"] == "slow" for c in pool.calls()))
    os.kill(pool.calls()[-1]["pid"], signal.SIGKILL)
    pool.wait_for(lambda: all(job_status(real_redis, i) == "finished" for i in [*fast, slow]))
    runs = Counter(c["id"] for c in pool.calls())
    assert runs == {**dict.fromkeys(fast, 1), slow: 2}
    assert pool.stop() == 0


def test_message_that_keeps_killing_workers_is_dead_lettered_as_poison(pool, real_redis) -> None:
    message_id = put_message(pool.store(real_redis), real_redis, pool.settings,
                             to=("poison@example.com",))  # fmt: skip
    assert pool.burst(processes=1) == 0, pool.log.read_text()
    assert [c["handler"] for c in pool.calls()] == ["poison"] * 3
    assert job_status(real_redis, message_id) == "failed"
    (letter,) = admin.list_failed(real_redis, pool.settings)
    assert letter.id == message_id and "PoisonMessage" in letter.reason
    assert "killed by SIGKILL" in letter.reason
    assert pool.store(real_redis).exists(f"done/{message_id}")


def test_sigterm_lets_the_running_job_finish_then_exits(pool, real_redis) -> None:
    pool.start(processes=2)
    message_id = put_message(pool.store(real_redis), real_redis, pool.settings,
                             to=("sleepy@example.com",))  # fmt: skip
    pool.wait_for(lambda: any(c["handler"] == "sleepy" for c in pool.calls()))
    assert pool.stop() == 0
    assert [c["handler"] for c in pool.calls()] == ["sleepy", "sleepy-done"]
    assert job_status(real_redis, message_id) == "finished"


def test_workers_reconcile_a_stored_message_whose_job_vanished(
    real_redis, redis_server, tmp_path
) -> None:
    pool = Pool(redis_server.url, tmp_path, MAILBUS_RECONCILE_INTERVAL="60",
                MAILBUS_RECONCILE_GRACE="1")  # fmt: skip
    store = pool.store(real_redis)
    lost = put_message(store, real_redis, pool.settings, to=("someone@example.com",),
                       message_id=new_message_id(time.time() - 120))  # fmt: skip
    real_redis.flushdb()  # Redis lost the job (failover without AOF)
    assert pool.burst(processes=1) == 0, pool.log.read_text()
    assert [(c["handler"], c["id"]) for c in pool.calls()] == [("default", lost)]
    assert job_status(real_redis, lost) == "finished"
    assert store.exists(f"done/{lost}")
    assert '"event": "message.reconciled"' in pool.log.read_text()


def test_memory_limit_turns_a_hog_into_a_failed_job_not_a_dead_worker(
    real_redis, redis_server, tmp_path
) -> None:
    pool = Pool(redis_server.url, tmp_path, MAILBUS_WORKER_MEMORY_LIMIT="300",
                MAILBUS_RETRIES="0")  # fmt: skip
    message_id = put_message(pool.store(real_redis), real_redis, pool.settings,
                             to=("hog@example.com",))  # fmt: skip
    assert pool.burst(processes=1) == 0, pool.log.read_text()
    assert [c["handler"] for c in pool.calls()] == ["hog"]
    (letter,) = admin.list_failed(real_redis, pool.settings)
    assert letter.id == message_id and letter.reason.startswith("MemoryError")
    assert "worker.died" not in pool.log.read_text()


def test_retry_backoff_is_scheduled_by_the_supervisor(real_redis, redis_server, tmp_path) -> None:
    pool = Pool(redis_server.url, tmp_path, MAILBUS_RETRY_BACKOFF="2")
    pool.start(processes=1)
    message_id = put_message(pool.store(real_redis), real_redis, pool.settings,
                             to=("flaky@example.com",))  # fmt: skip
    pool.wait_for(lambda: job_status(real_redis, message_id) == "finished", timeout=20)
    assert pool.stop() == 0
    handlers = [c["handler"] for c in pool.calls()]
    assert handlers.count("flaky") == 3 and handlers.count("steady") == 1
    parsed = [e["at"] for e in timeline(real_redis, message_id) if e["event"] == "parsed"]
    assert all(b - a >= 1 for a, b in itertools.pairwise(parsed))  # RQ schedules to the second


def test_burst_waits_for_a_retry_that_falls_due_and_runs_it(
    real_redis, redis_server, tmp_path
) -> None:
    """Issue 9/8: a burst worker that met a retry with a real backoff must promote it when it
    falls due, not die on it (exit 1) nor leave it behind."""
    pool = Pool(redis_server.url, tmp_path, MAILBUS_RETRY_BACKOFF="2")
    message_id = put_message(pool.store(real_redis), real_redis, pool.settings,
                             to=("flaky@example.com",))  # fmt: skip
    assert pool.burst(processes=1) == 0, pool.log.read_text()
    assert job_status(real_redis, message_id) == "finished"
    handlers = [c["handler"] for c in pool.calls()]
    assert handlers.count("flaky") == 3 and handlers.count("steady") == 1
    parsed = [e["at"] for e in timeline(real_redis, message_id) if e["event"] == "parsed"]
    assert all(b - a >= 1 for a, b in itertools.pairwise(parsed))  # RQ schedules to the second
    assert "worker.supervisor_error" not in pool.log.read_text()


def test_a_due_retry_is_put_on_the_queue(real_redis, redis_server, tmp_path) -> None:
    """Burst mode's own scheduler step, on a retry whose time has come (it used to queue a
    command on the pipeline before RQ's enqueue called MULTI: RedisError)."""
    pool = Pool(redis_server.url, tmp_path)
    message_id = put_message(pool.store(real_redis), real_redis, pool.settings)
    queue = message_queue(real_redis, pool.settings)
    job = queue.fetch_job(message_id)
    assert job is not None
    queue.remove(job)
    registry = ScheduledJobRegistry(queue=queue, serializer=JSONSerializer)
    registry.schedule(job, datetime.now(UTC) - timedelta(seconds=1))
    ctx = context.build(pool.settings, load_router(pool.settings.handlers), connection=real_redis)
    assert enqueue_due_retries(ctx) == 1
    assert queue.get_job_ids() == [message_id] and registry.count == 0
    assert job_status(real_redis, message_id) == "queued"


def test_burst_leaves_a_retry_due_later_than_its_wait_scheduled(
    real_redis, redis_server, tmp_path
) -> None:
    pool = Pool(redis_server.url, tmp_path, MAILBUS_RETRY_BACKOFF="120",
                MAILBUS_BURST_RETRY_WAIT="5")  # fmt: skip
    message_id = put_message(pool.store(real_redis), real_redis, pool.settings,
                             to=("flaky@example.com",))  # fmt: skip
    started = time.monotonic()
    assert pool.burst(processes=1) == 0, pool.log.read_text()
    assert time.monotonic() - started < 20
    assert job_status(real_redis, message_id) == "scheduled"
    assert '"event": "worker.retries_left_scheduled"' in pool.log.read_text()
