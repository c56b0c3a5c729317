"""Long-running `mailbus worker` processes, scrapes of their HTTP endpoints and their JSON logs,
for the observability tests (the listener and SMTP side come from tests.e2e.harness)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, stop_process

Samples = list[tuple[str, dict[str, str], float]]


def status(port: int, path: str) -> int:
    """HTTP status of GET `path` on loopback (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        with exc:  # the error holds the response and its socket
            return int(exc.code)
    except OSError:
        return 0


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def value(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples named `name` whose labels include `labels` (0 when there is none)."""
    return sum(
        v for n, ls, v in samples if n == name and all(ls.get(k) == w for k, w in labels.items())
    )


def has(samples: Samples, name: str) -> bool:
    return any(n == name for n, _, _ in samples)


def log_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a process's stdout (non-JSON lines fail the test: all must be JSON)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Worker:
    """`mailbus worker` (not burst) as a subprocess, ready once its /healthz answers."""

    def __init__(self, env: dict[str, str], *args: str, log: Path) -> None:
        self.env = env
        self.metrics_port = int(env["MAILBUS_METRICS_PORT"])
        self.log = log
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mailbus", "worker", *args],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while status(self.metrics_port, "/healthz") != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"worker did not serve /healthz: {log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
