"""The queue-depth signal both roles publish (mailbus.depth): the exact EMF record and that it
matches what the Terraform autoscaling reads, its pacing, and the levels read from a real Redis
with jobs enqueued the way the listener enqueues them."""

from __future__ import annotations

import datetime
import json

import pytest
import redis
from prometheus_client import CollectorRegistry
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from listener import depth
from mailbus import metrics
from mailbus.depth import EmfReporter, QueueLevels, emf_line, read_levels
from mailbus.envelope import Envelope
from mailbus.queue import JobWriter, MessageJob, enqueue_message, message_queue
from mailbus.redis_server import RedisServer, free_port
from mailbus.settings import Settings
from tests.infra.conftest import TERRAFORM, Module, block, ref


def test_emf_line_is_the_exact_cloudwatch_record() -> None:
    line = emf_line("mailbus", QueueLevels(7, 12.34567, 1), now=1_700_000_000.5)
    assert "\n" not in line
    assert json.loads(line) == {
        "_aws": {
            "Timestamp": 1_700_000_000_500,
            "CloudWatchMetrics": [
                {
                    "Namespace": "mailbus",
                    "Dimensions": [["Queue"]],
                    "Metrics": [
                        {"Name": "QueueDepth", "Unit": "Count"},
                        {"Name": "OldestWaitingAge", "Unit": "Seconds"},
                    ],
                }
            ],
        },
        "Queue": "mailbus",
        "QueueDepth": 7,
        "OldestWaitingAge": 12.346,
    }


def test_emf_line_matches_every_queue_depth_metric_in_the_terraform() -> None:
    tf = Module(TERRAFORM)
    variables = tf.variables()
    record = json.loads(emf_line(variables["queue_name"]["default"], QueueLevels(0, 0.0, 0)))
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    published = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    assert directive["Namespace"] == variables["metrics_namespace"]["default"]

    policy = tf.resource("aws_appautoscaling_policy", "worker_queue_depth")
    tracked = block(block(policy, "target_tracking_scaling_policy_configuration"),
                    "customized_metric_specification")  # fmt: skip
    alarmed = [
        metric
        for alarm in tf.resources("aws_cloudwatch_metric_alarm").values()
        for metric in [
            alarm,
            *(m for q in alarm.get("metric_query", []) for m in q.get("metric", [])),
        ]
        if ref(metric.get("namespace", "")) == "var.metrics_namespace"
    ]
    assert len(alarmed) >= 2  # the wake-up and the idle alarm
    assert tracked["unit"] == published[tracked["metric_name"]]
    for metric in [tracked, *alarmed]:
        assert metric["metric_name"] in published
        dimensions = metric.get("dimensions")
        if isinstance(dimensions, list):  # a block in the target tracking, a map in alarms
            dimensions = {d["name"]: d["value"] for d in dimensions}
        assert directive["Dimensions"] == [list(dimensions)]
        assert {k: ref(v) for k, v in dimensions.items()} == {"Queue": "var.queue_name"}
        assert record["Queue"] == "mailbus"


def test_emf_reporter_prints_at_most_once_per_interval() -> None:
    now = [100.0]
    lines: list[str] = []
    levels = QueueLevels(3, 1.5, 0)
    reporter = EmfReporter("q", 60, lambda: levels, write=lines.append, clock=lambda: now[0])
    assert reporter.tick()  # the first line at once
    now[0] += 59.9
    assert not reporter.tick()
    now[0] += 0.2
    assert reporter.tick()
    assert [json.loads(line)["QueueDepth"] for line in lines] == [3, 3]
    assert [json.loads(line)["OldestWaitingAge"] for line in lines] == [1.5, 1.5]


def test_emf_reporter_off_and_a_failed_read_waits_an_interval() -> None:
    lines: list[str] = []
    idle = QueueLevels(1, 0.0, 0)
    assert not EmfReporter("q", 0, lambda: idle, write=lines.append).tick()

    def broken() -> QueueLevels:
        raise redis.ConnectionError("down")

    reporter = EmfReporter("q", 60, broken, write=lines.append, clock=lambda: 5.0)
    with pytest.raises(redis.ConnectionError):
        reporter.tick()
    assert not reporter.tick()  # no retry storm: the next try is a full interval later
    assert lines == []


def test_levels_count_waiting_and_scheduled_and_age_the_head_job(
    real_redis: redis.Redis, redis_server: RedisServer
) -> None:
    settings = Settings(redis_url=redis_server.url, queue="obs")
    assert read_levels(real_redis, "obs") == QueueLevels(0, 0.0, 0)

    first = enqueue_message(
        message_queue(real_redis, settings), settings, message_id="01first", raw_key="r1",
        envelope=Envelope(rcpt_tos=("a@example.com",)), digest="d1",
    )  # fmt: skip
    with real_redis.pipeline() as pipe:  # the listener's own path to the same records
        JobWriter(real_redis, settings).enqueue(
            pipe, [MessageJob("01second", "r2", Envelope(rcpt_tos=("b@example.com",)), "d2")]
        )
        pipe.execute()
    real_redis.zadd(ScheduledJobRegistry("obs", connection=real_redis).key, {"01retry": 1})
    real_redis.zadd(FailedJobRegistry("obs", connection=real_redis).key, {"d": 1, "e": 2})

    assert first.enqueued_at is not None
    later = first.enqueued_at + datetime.timedelta(seconds=42)
    levels = read_levels(real_redis, "obs", now=later)
    assert levels.depth == 3 and levels.dead == 2
    assert levels.oldest_age == pytest.approx(42, abs=0.01)  # the head, not the newer job

    real_redis.lpop("rq:queue:obs")  # a worker took the first: the JobWriter's job is the head
    age = read_levels(real_redis, "obs").oldest_age
    assert 0 <= age < 5


def test_an_id_without_its_job_hash_has_no_age(real_redis: redis.Redis) -> None:
    real_redis.rpush("rq:queue:obs", "01gone")
    assert read_levels(real_redis, "obs") == QueueLevels(1, 0.0, 0)
    assert real_redis.llen("rq:queue:obs") == 1  # reading never changes the queue


def test_queue_gauges_read_redis_at_scrape_time(
    real_redis: redis.Redis, redis_server: RedisServer
) -> None:
    settings = Settings(redis_url=redis_server.url, queue="obs")
    enqueue_message(
        message_queue(real_redis, settings), settings, message_id="01only", raw_key="r",
        envelope=Envelope(rcpt_tos=("a@example.com",)), digest="d",
    )  # fmt: skip
    real_redis.hset("rq:job:01only", "enqueued_at", "2020-01-01T00:00:00.000000Z")
    real_redis.zadd(FailedJobRegistry("obs", connection=real_redis).key, {"d": 1, "e": 2})

    registry = CollectorRegistry()
    registry.register(metrics.QueueCollector(settings))
    assert registry.get_sample_value("mailbus_queue_depth", {"queue": "obs"}) == 1
    assert registry.get_sample_value("mailbus_dead_letters", {"queue": "obs"}) == 2
    age = registry.get_sample_value("mailbus_queue_oldest_age_seconds", {"queue": "obs"})
    assert age is not None and age > 5 * 365 * 86_400


def test_the_listener_publisher_logs_a_failed_read_and_never_raises(
    real_redis: redis.Redis,
    redis_server: RedisServer,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", queue="obs", emf_interval=60)
    depth.publisher(down)()  # a supervisor that raised here would take every listener down
    settings = Settings(redis_url=redis_server.url, queue="obs", emf_interval=60)
    enqueue_message(
        message_queue(real_redis, settings), settings, message_id="01bad", raw_key="r",
        envelope=Envelope(rcpt_tos=("a@example.com",)), digest="d",
    )  # fmt: skip
    real_redis.hset("rq:job:01bad", "enqueued_at", "not a time")
    depth.publisher(settings)()
    events = [record.getMessage() for record in caplog.records]
    assert events == ["listener.queue_unreadable", "listener.queue_depth_failed"]
    assert capsys.readouterr().out == ""

    real_redis.hset("rq:job:01bad", "enqueued_at", "2020-01-01T00:00:00.000000Z")
    depth.publisher(settings)()
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["QueueDepth"] == 1
    assert json.loads(line)["OldestWaitingAge"] > 5 * 365 * 86_400
