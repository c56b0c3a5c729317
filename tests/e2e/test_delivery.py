"""Issue 4's delivery promises over real sockets: SMTP → `mailbus listen` → a real Redis →
`mailbus worker` processes → handlers (tests/workers/handlers_proc.py logs every call)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from mailbus.status import timeline
from tests.conftest import ROOT
from tests.e2e.harness import Listener, mailbus, mailbus_env, multipart_message, queued_id, send
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e


def calls(out: Path) -> list[dict]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


@pytest.fixture
def env(tmp_path: Path, redis_server, real_redis: redis.Redis) -> dict[str, str]:
    return mailbus_env(
        tmp_path,
        redis_server.url,
        f"file://{tmp_path / 'store'}",
        MAILBUS_HANDLERS="tests.workers.handlers_proc:router",
        MAILBUS_TEST_OUT=str(tmp_path / "calls.jsonl"),
        MAILBUS_RETRIES="3",
    )


def test_a_handler_failing_twice_is_called_three_times_and_its_sibling_once(env) -> None:
    out = Path(env["MAILBUS_TEST_OUT"])
    with Listener(env) as listener:
        code, reply = send(listener.port, multipart_message("flaky"), to=("flaky@example.com",))
    assert code == 250, reply
    message_id = queued_id(reply)
    assert mailbus("worker", "--burst", env=env).returncode == 0
    made = [c["handler"] for c in calls(out) if c["id"] == message_id]
    assert made.count("flaky") == 3
    assert made.count("steady") == 1


def test_a_worker_sigkilled_mid_job_loses_nothing(env, real_redis: redis.Redis) -> None:
    out = Path(env["MAILBUS_TEST_OUT"])
    worker = subprocess.Popen(
        [sys.executable, "-m", "mailbus", "worker", "--processes", "1"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with Listener(env) as listener:
            code, reply = send(listener.port, multipart_message("slow"), to=("slow@example.com",))
        assert code == 250, reply
        message_id = queued_id(reply)
        wait_for(lambda: any(c["handler"] == "slow" for c in calls(out)))
        victim = calls(out)[0]["pid"]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(calls(out)) == 2)
        second = calls(out)[1]
        assert (second["handler"], second["id"]) == ("slow", message_id)
        assert second["pid"] != victim
        wait_for(lambda: any(e["event"] == "done" for e in timeline(real_redis, message_id)))
    finally:
        worker.terminate()
        assert worker.wait(timeout=30) == 0
