"""The pieces behind the workers' signals, without a worker process: handler timing that keeps
the handler's ledger name, the id on RQ's log lines, the queue gauges while Redis is down, and
the supervisor's queue-depth line (the line itself: test_queue_depth)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry

from mailbus import aio, metrics
from mailbus.redis_server import RedisServer, free_port
from mailbus.router import Router, handler_name
from mailbus.rqseam.logs import JobIdFilter
from mailbus.settings import Settings
from tests.conftest import ROOT
from workers import metrics as worker_metrics
from workers.pool import Supervisor

MESSAGE_ID = "01m8k0rr7h8kybsdxxz2fh2kz4"


def test_timed_handler_keeps_the_name_and_counts_outcomes() -> None:
    registry = CollectorRegistry()
    registry.register(worker_metrics.HANDLER_CALLS)
    registry.register(worker_metrics.HANDLER_SECONDS)

    def flaky(msg: object, *, fail: bool) -> str:
        if fail:
            raise ValueError("no")
        return "ok"

    timed = worker_metrics.timed_handler(flaky)
    name = handler_name(flaky)
    assert handler_name(timed) == name
    labels = {"handler": name}
    before = registry.get_sample_value("mailbus_worker_handler_seconds_count", labels) or 0
    assert timed(None, fail=False) == "ok"
    with pytest.raises(ValueError):
        timed(None, fail=True)
    for outcome in ("ok", "failed"):
        sample = {"handler": name, "outcome": outcome}
        assert registry.get_sample_value("mailbus_worker_handler_calls_total", sample) == 1
    assert registry.get_sample_value("mailbus_worker_handler_seconds_count", labels) == before + 2


def test_timed_async_handler_is_observed_when_it_completes() -> None:
    registry = CollectorRegistry()
    registry.register(worker_metrics.HANDLER_CALLS)
    registry.register(worker_metrics.HANDLER_SECONDS)

    async def slow_then_fails(msg: object) -> None:
        await asyncio.sleep(0.05)
        raise ValueError("no")

    timed = worker_metrics.timed_handler(slow_then_fails)
    name = handler_name(slow_then_fails)
    with pytest.raises(ValueError):
        aio.call(timed, None, {})
    sample = {"handler": name, "outcome": "failed"}
    assert registry.get_sample_value("mailbus_worker_handler_calls_total", sample) == 1
    ok = {"handler": name, "outcome": "ok"}
    assert not registry.get_sample_value("mailbus_worker_handler_calls_total", ok)
    seconds = registry.get_sample_value("mailbus_worker_handler_seconds_sum", {"handler": name})
    assert seconds is not None and seconds >= 0.05


@pytest.mark.parametrize(
    ("message", "args"),
    [
        ("Worker %s: %s: %s (%s)", ("w", "mailbus", f"message {MESSAGE_ID}", MESSAGE_ID)),
        ("Worker %s: %s: %s (%s)", ("w", "mailbus", "Job OK", MESSAGE_ID)),
        ("Successfully completed %s job in %ss on worker %s", (f"message {MESSAGE_ID}", 1, "w")),
    ],
)
def test_rq_lines_about_a_job_get_its_id(message: str, args: tuple) -> None:
    record = logging.LogRecord("rq.worker", logging.INFO, __file__, 1, message, args, None)
    JobIdFilter().filter(record)
    assert record.mailbus_fields == {"id": MESSAGE_ID}  # type: ignore[attr-defined]


def test_rq_lines_about_no_job_stay_as_they_are() -> None:
    record = logging.LogRecord(
        "rq.worker", logging.INFO, __file__, 1, "Worker %s: started", ("mailbus.host.1",), None
    )
    JobIdFilter().filter(record)
    assert not hasattr(record, "mailbus_fields")


def test_queue_gauges_are_left_out_while_redis_is_down() -> None:
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", queue="obs")
    registry = CollectorRegistry()
    registry.register(metrics.QueueCollector(settings))
    assert registry.get_sample_value("mailbus_queue_depth", {"queue": "obs"}) is None


def test_supervisor_prints_the_queue_depth(
    real_redis: redis.Redis, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(redis_url=redis_server.url, queue="obs", emf_interval=60)
    real_redis.rpush("rq:queue:obs", "a", "b")
    Supervisor(settings, Router(), processes=1, burst=False).emf.tick()
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["QueueDepth"] == 2
    assert json.loads(line)["Queue"] == "obs"

    burst = Supervisor(settings, Router(), processes=1, burst=True)
    assert not burst.emf.tick()  # a drain run is not a service to scale


def test_the_readme_documents_the_emf_interval() -> None:
    assert "`MAILBUS_EMF_INTERVAL`" in (ROOT / "README.md").read_text()
    assert Path(ROOT / "mailbus" / "settings.py").read_text().count("MAILBUS_EMF_INTERVAL") == 1
