"""What the workers count (Prometheus) and the queue-depth line they print for autoscaling (EMF).

The counters and histograms are process-local and multiprocess-safe as they are: under
`MAILBUS_METRICS_PORT` the CLI points prometheus_client at a samples directory before this module
is imported, every forked child writes its own file, and the supervisor's HTTP endpoint adds them
up. Without it they are plain in-memory values nobody reads. They are created unregistered
(`registry=None`): nothing is added to a global registry at import.

`emf_line` is the CloudWatch embedded-metric-format record that infra/terraform/autoscaling.tf
scales the worker service on (namespace `mailbus`, metric `QueueDepth`, dimension `Queue`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import Counter, Histogram

from mailbus.router import handler_name

NAMESPACE = "mailbus"
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

JOBS = Counter("mailbus_worker_jobs", "Job attempts by outcome", ["outcome"], registry=None)
PARSE_SECONDS = Histogram(
    "mailbus_worker_parse_seconds", "Time to parse one raw message", buckets=_LATENCY,
    registry=None,
)  # fmt: skip
HANDLER_SECONDS = Histogram(
    "mailbus_worker_handler_seconds", "Time one handler call took", ["handler"],
    buckets=_LATENCY, registry=None,
)  # fmt: skip
HANDLER_CALLS = Counter(
    "mailbus_worker_handler_calls", "Handler calls by outcome (ok, failed)",
    ["handler", "outcome"], registry=None,
)  # fmt: skip
AUTH_RESULTS = Counter(
    "mailbus_worker_auth_results", "Authentication verdicts computed, per check and result",
    ["check", "result"], registry=None,
)  # fmt: skip
DEAD_LETTERS = Counter(
    "mailbus_worker_dead_letters", "Messages moved to the dead-letter registry", registry=None
)


def job_outcome(outcome: str) -> None:
    """Count one job attempt as done, retry, dead or duplicate."""
    JOBS.labels(outcome=outcome).inc()
    if outcome == "dead":
        DEAD_LETTERS.inc()


def auth_results(results: Any) -> None:
    """Count one message's verdicts (an AuthResults); one count per DKIM signature."""
    for check in ("spf", "dmarc", "arc", "iprev"):
        AUTH_RESULTS.labels(check=check, result=getattr(results, check).result).inc()
    for signature in results.dkim or ():
        AUTH_RESULTS.labels(check="dkim", result=signature.result).inc()
    if not results.dkim:
        AUTH_RESULTS.labels(check="dkim", result="none").inc()


@contextmanager
def parsing() -> Iterator[None]:
    with PARSE_SECONDS.time():
        yield


def timed_handler(handler: Callable[..., Any]) -> Callable[..., Any]:
    """`handler` wrapped to observe its latency and count its outcome under its name.

    The wrapper keeps the handler's `__module__` and `__qualname__`, so `handler_name()` (the
    key of its completion record in the ledger) is unchanged."""
    name = handler_name(handler)

    def call(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = handler(*args, **kwargs)
            outcome = "ok"
            return result
        finally:
            HANDLER_SECONDS.labels(handler=name).observe(time.perf_counter() - started)
            HANDLER_CALLS.labels(handler=name, outcome=outcome).inc()

    call.__module__ = handler.__module__
    call.__qualname__ = getattr(handler, "__qualname__", repr(handler))
    call.__wrapped__ = handler  # type: ignore[attr-defined]
    return call


def emf_line(queue: str, depth: int, *, now: float | None = None) -> str:
    """One CloudWatch embedded-metric-format record: `QueueDepth` (Count) for `Queue=queue`."""
    record = {
        "_aws": {
            "Timestamp": int((time.time() if now is None else now) * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Queue"]],
                    "Metrics": [{"Name": "QueueDepth", "Unit": "Count"}],
                }
            ],
        },
        "Queue": queue,
        "QueueDepth": depth,
    }
    return json.dumps(record, separators=(",", ":"))


class EmfReporter:
    """Prints `emf_line` at most once per `interval` seconds (0 = never); the first at once."""

    def __init__(
        self,
        queue: str,
        interval: float,
        depth: Callable[[], int],
        *,
        write: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue = queue
        self.interval = interval
        self.depth = depth
        self.write = write
        self.clock = clock
        self.next_at: float | None = None

    def tick(self) -> bool:
        """Print a line if one is due; True if it did. A failed depth read waits a full interval
        (the caller logs the error), so Redis trouble cannot turn this into a busy loop."""
        if self.interval <= 0:
            return False
        now = self.clock()
        if self.next_at is not None and now < self.next_at:
            return False
        self.next_at = now + self.interval
        self.write(emf_line(self.queue, self.depth()))
        return True
