"""`/metrics`, `/readyz` and `/healthz` of a real `mailbus listen` and `mailbus worker` (two
worker processes, so the multiprocess sums are exercised) against a real Redis, after real SMTP
traffic: accepted, duplicate, dead-lettered and rejected messages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from mailbus.redis_server import RedisServer, free_port
from tests.e2e.harness import Listener, mailbus_env, multipart_message, queued_id, send
from tests.observability.procs import Samples, Worker, log_lines, scrape, status, value
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e
HANDLER = "tests.e2e.handlers_record.record"
MAX_SIZE = 20_000


@pytest.fixture
def roles(
    tmp_path: Path, real_redis: redis.Redis, redis_server: RedisServer
) -> Iterator[tuple[Listener, Worker, dict[str, str]]]:
    env = mailbus_env(
        tmp_path, redis_server.url, "redis",
        MAILBUS_RETRIES="0", MAILBUS_MAX_MESSAGE_SIZE=str(MAX_SIZE),
        E2E_FAIL_FLAG=str(tmp_path / "fail"),
    )  # fmt: skip
    listener_env = {**env, "MAILBUS_METRICS_PORT": str(free_port())}
    worker_env = {**env, "MAILBUS_METRICS_PORT": str(free_port())}
    with Listener(listener_env) as listener:
        with Worker(worker_env, "--processes", "2", log=tmp_path / "worker.log") as worker:
            yield listener, worker, env


def test_counters_move_by_what_was_sent(
    roles: tuple[Listener, Worker, dict[str, str]], tmp_path: Path
) -> None:
    listener, worker, _ = roles
    wait_for(lambda: status(worker.metrics_port, "/readyz") == 200, "worker ready")
    before = scrape(worker.metrics_port)
    assert value(before, "mailbus_worker_jobs_total") == 0
    listener_port = int(listener.env["MAILBUS_METRICS_PORT"])
    # the harness's readiness probe was a session too: count from after it ended
    (listened_before,) = wait_for(lambda: _idle(listener_port), "the probe session ended")

    messages = [multipart_message(f"ok {n}", message_id=f"<ok{n}@example.org>") for n in range(3)]
    ids = []
    for raw in [*messages, messages[0]]:  # the last one is the same delivery again
        code, reply = send(listener.port, raw)
        assert code == 250, reply
        ids.append(queued_id(reply))
    assert send(listener.port, b"x", to=("someone@elsewhere.test",))[0] == 550
    big = multipart_message("too big") + b"y" * MAX_SIZE
    assert send(listener.port, big)[0] == 552

    def worker_count(outcome: str) -> float:
        return value(scrape(worker.metrics_port), "mailbus_worker_jobs_total", outcome=outcome)

    wait_for(lambda: worker_count("done") + worker_count("duplicate") == 4, "4 jobs finished")
    (tmp_path / "fail").touch()  # the handler now raises; with no retries the job dies
    code, reply = send(listener.port, multipart_message("fails"))
    assert code == 250, reply
    ids.append(queued_id(reply))
    wait_for(lambda: worker_count("dead") == 1, "the failing job dead-lettered")

    samples = wait_for(
        lambda: (
            (s := scrape(worker.metrics_port))
            and value(s, "mailbus_queue_depth", queue="mailbus") == 0
            and s
        ),
        "queue depth back to 0",
    )
    assert value(samples, "mailbus_worker_jobs_total", outcome="done") == 3
    assert value(samples, "mailbus_worker_jobs_total", outcome="duplicate") == 1
    assert value(samples, "mailbus_worker_duplicates_total") == 1
    assert value(samples, "mailbus_worker_jobs_total", outcome="retry") == 0
    assert value(samples, "mailbus_worker_dead_letters_total") == 1
    assert value(samples, "mailbus_dead_letters", queue="mailbus") == 1
    ok = value(samples, "mailbus_worker_handler_calls_total", handler=HANDLER, outcome="ok")
    failed = value(samples, "mailbus_worker_handler_calls_total", handler=HANDLER, outcome="failed")
    assert (ok, failed) == (3, 1)
    assert value(samples, "mailbus_worker_handler_seconds_count", handler=HANDLER) == 4
    assert value(samples, "mailbus_worker_parse_seconds_count") == 4  # the duplicate is not parsed

    # The log says the same, each line about a message keyed by its id (done, duplicate, dead),
    # and the supervisor printed its CloudWatch queue-depth line at start.
    lines = log_lines(worker.log)
    for line in lines:
        for message_id in ids:
            if message_id in str(line):
                assert message_id in (line.get("id"), line.get("duplicate_of")), line
    events = {(line.get("id"), line["event"]) for line in lines if "event" in line}
    assert {(i, "message.done") for i in ids[:3]} <= events
    assert (ids[3], "message.duplicate") in events
    assert {(ids[4], "handler.failed"), (ids[4], "message.dead")} <= events
    emf = [line for line in lines if "_aws" in line]
    assert emf and emf[0]["Queue"] == "mailbus" and emf[0]["QueueDepth"] >= 0

    listened = wait_for(lambda: _idle(listener_port), "all sessions ended")[0]

    def moved(name: str, **labels: str) -> float:
        return value(listened, name, **labels) - value(listened_before, name, **labels)

    assert moved("mailbus_listener_messages_total", outcome="accepted") == 5
    assert moved("mailbus_listener_messages_total", outcome="rejected") == 1
    assert moved("mailbus_listener_messages_total", outcome="failed") == 0
    assert moved("mailbus_listener_rejections_total", reason="relay_denied") == 1
    assert moved("mailbus_listener_rejections_total", reason="too_big") == 1
    assert moved("mailbus_listener_rejections_total") == 2
    assert moved("mailbus_listener_sessions_total") == 7
    assert value(listened, "mailbus_listener_connections_active") == 0
    assert value(listened, "mailbus_listener_inflight_bytes") == 0
    assert moved("mailbus_listener_persist_seconds_count") == 5
    sent = sum(map(len, [*messages, messages[0], multipart_message("fails")]))
    assert moved("mailbus_listener_bytes_total") >= sent


def _idle(port: int) -> list[Samples] | None:
    """[the scrape] once no SMTP connection is open (a session is counted when it ends)."""
    samples = scrape(port)
    return [samples] if value(samples, "mailbus_listener_connections_active") == 0 else None


def test_readyz_follows_redis_and_healthz_stays_up(
    roles: tuple[Listener, Worker, dict[str, str]], redis_server: RedisServer
) -> None:
    listener, worker, _ = roles
    ports = {"listener": int(listener.env["MAILBUS_METRICS_PORT"]), "worker": worker.metrics_port}
    for role, port in ports.items():
        wait_for(lambda port=port: status(port, "/readyz") == 200, f"{role} ready")
    redis_server.stop()
    try:
        for role, port in ports.items():
            wait_for(lambda port=port: status(port, "/readyz") == 503, f"{role} unready")
            assert status(port, "/healthz") == 200, role
        assert worker.process.poll() is None and listener.process.poll() is None
    finally:
        redis_server.start()
    for role, port in ports.items():
        wait_for(lambda port=port: status(port, "/readyz") == 200, f"{role} ready again")
        assert status(port, "/healthz") == 200, role
