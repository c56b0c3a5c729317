"""What the workers count (Prometheus): jobs, parse and handler times, dead letters.

The counters and histograms are process-local and multiprocess-safe as they are: under
`MAILBUS_METRICS_PORT` the CLI points prometheus_client at a samples directory before this module
is imported, every forked child writes its own file, and the supervisor's HTTP endpoint adds them
up. Without it they are plain in-memory values nobody reads. They are created unregistered
(`registry=None`): nothing is added to a global registry at import.

The queue-depth line the supervisor prints for autoscaling is mailbus.depth's.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import Counter, Histogram

from mailbus.router import handler_name

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
DUPLICATES = Counter(
    "mailbus_worker_duplicates", "Copies of a delivered message kept from the handlers",
    registry=None,
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
    elif outcome == "duplicate":
        DUPLICATES.inc()


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
    key of its completion record in the ledger) is unchanged. When the handler returns an
    awaitable (`async def`), it returns one too, observed when that completes."""
    name = handler_name(handler)

    def observe(started: float, outcome: str) -> None:
        HANDLER_SECONDS.labels(handler=name).observe(time.perf_counter() - started)
        HANDLER_CALLS.labels(handler=name, outcome=outcome).inc()

    async def completion(awaitable: Awaitable[Any], started: float) -> Any:
        outcome = "failed"
        try:
            result = await awaitable
            outcome = "ok"
            return result
        finally:
            observe(started, outcome)

    def call(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            result = handler(*args, **kwargs)
        except BaseException:
            observe(started, "failed")
            raise
        if inspect.isawaitable(result):
            return completion(result, started)
        observe(started, "ok")
        return result

    call.__module__ = handler.__module__
    call.__qualname__ = getattr(handler, "__qualname__", repr(handler))
    call.__wrapped__ = handler  # type: ignore[attr-defined]
    return call
