"""The pieces behind the workers' signals, without a worker process: the EMF line and its pacing
(and that it matches what the Terraform autoscaling tracks), handler timing that keeps the
handler's ledger name, the id on RQ's log lines, and the queue gauges read from a real Redis."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from mailbus import aio, metrics
from mailbus.redis_server import RedisServer, free_port
from mailbus.router import Router, handler_name
from mailbus.rqseam.logs import JobIdFilter
from mailbus.settings import Settings
from tests.conftest import ROOT
from tests.infra.conftest import TERRAFORM, Module, block, ref
from workers import metrics as worker_metrics
from workers.pool import Supervisor

MESSAGE_ID = "01m8k0rr7h8kybsdxxz2fh2kz4"


def test_emf_line_is_the_exact_cloudwatch_record() -> None:
    line = worker_metrics.emf_line("mailbus", 7, now=1_700_000_000.5)
    assert "\n" not in line
    assert json.loads(line) == {
        "_aws": {
            "Timestamp": 1_700_000_000_500,
            "CloudWatchMetrics": [
                {
                    "Namespace": "mailbus",
                    "Dimensions": [["Queue"]],
                    "Metrics": [{"Name": "QueueDepth", "Unit": "Count"}],
                }
            ],
        },
        "Queue": "mailbus",
        "QueueDepth": 7,
    }


def test_emf_line_matches_the_worker_autoscaling_policy() -> None:
    tf = Module(TERRAFORM)
    policy = tf.resource("aws_appautoscaling_policy", "worker_queue_depth")
    spec = block(block(policy, "target_tracking_scaling_policy_configuration"),
                 "customized_metric_specification")  # fmt: skip
    variables = tf.variables()
    record = json.loads(worker_metrics.emf_line(variables["queue_name"]["default"], 0))
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    (metric,) = directive["Metrics"]

    assert ref(spec["namespace"]) == "var.metrics_namespace"
    assert directive["Namespace"] == variables["metrics_namespace"]["default"]
    assert spec["metric_name"] == metric["Name"] == "QueueDepth"
    assert spec["unit"] == metric["Unit"] == "Count"
    dimension = block(spec, "dimensions")
    assert directive["Dimensions"] == [[dimension["name"]]]
    assert ref(dimension["value"]) == "var.queue_name"
    assert record[dimension["name"]] == "mailbus"


def test_emf_reporter_prints_at_most_once_per_interval() -> None:
    now = [100.0]
    lines: list[str] = []
    reporter = worker_metrics.EmfReporter(
        "q", 60, lambda: 3, write=lines.append, clock=lambda: now[0]
    )
    assert reporter.tick()  # the first line at once
    now[0] += 59.9
    assert not reporter.tick()
    now[0] += 0.2
    assert reporter.tick()
    assert [json.loads(line)["QueueDepth"] for line in lines] == [3, 3]


def test_emf_reporter_off_and_a_failed_read_waits_an_interval() -> None:
    lines: list[str] = []
    assert not worker_metrics.EmfReporter("q", 0, lambda: 1, write=lines.append).tick()

    def broken() -> int:
        raise redis.ConnectionError("down")

    reporter = worker_metrics.EmfReporter("q", 60, broken, write=lines.append, clock=lambda: 5.0)
    with pytest.raises(redis.ConnectionError):
        reporter.tick()
    assert not reporter.tick()  # no retry storm: the next try is a full interval later
    assert lines == []


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


def test_queue_gauges_read_redis_at_scrape_time(
    real_redis: redis.Redis, redis_server: RedisServer
) -> None:
    settings = Settings(redis_url=redis_server.url, queue="obs")
    real_redis.rpush("rq:queue:obs", "a", "b")
    real_redis.zadd(ScheduledJobRegistry("obs", connection=real_redis).key, {"c": 1})
    real_redis.zadd(FailedJobRegistry("obs", connection=real_redis).key, {"d": 1, "e": 2})
    assert metrics.queue_counts(real_redis, "obs") == (3, 2)

    registry = CollectorRegistry()
    registry.register(metrics.QueueCollector(settings))
    assert registry.get_sample_value("mailbus_queue_depth", {"queue": "obs"}) == 3
    assert registry.get_sample_value("mailbus_dead_letters", {"queue": "obs"}) == 2


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
