"""One message id followed through the JSON logs of a real listener and a real worker: every line
either process writes about the message is one JSON object whose `id` is that message id."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from mailbus.redis_server import RedisServer, free_port
from tests.e2e.harness import Listener, handled, mailbus_env, multipart_message, queued_id, send
from tests.observability.procs import Worker, log_lines
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e
HANDLER = "tests.e2e.handlers_record.record"


def test_one_id_through_listener_worker_and_handler(
    tmp_path: Path, real_redis: redis.Redis, redis_server: RedisServer
) -> None:
    env = mailbus_env(tmp_path, redis_server.url, "redis", MAILBUS_EMF_INTERVAL="0")
    with Listener(env) as listener:
        worker_env = {**env, "MAILBUS_METRICS_PORT": str(free_port())}
        with Worker(worker_env, log=tmp_path / "worker.log"):
            code, reply = send(listener.port, multipart_message("Follow me"))
            assert code == 250, reply
            message_id = queued_id(reply)
            wait_for(lambda: handled(env), "the handler ran")
            wait_for(
                lambda: any(
                    line.get("event") == "message.done"
                    for line in log_lines(tmp_path / "worker.log")
                ),
                "message.done logged",
            )

    listener_lines = log_lines(listener.log)
    (queued,) = [line for line in listener_lines if line["event"] == "message.queued"]
    assert queued["id"] == message_id

    worker_lines = log_lines(tmp_path / "worker.log")
    trail = [line for line in worker_lines if line.get("id") == message_id]
    events = [line["event"] for line in trail]
    for event in ("message.started", "message.parsed", "handler.ok", "message.done"):
        assert event in events, (event, events)
    assert events.index("message.started") < events.index("message.parsed")
    assert events.index("message.parsed") < events.index("handler.ok")
    assert events.index("handler.ok") < events.index("message.done")
    (ok,) = [line for line in trail if line["event"] == "handler.ok"]
    assert ok["handler"] == HANDLER
    assert handled(env)[0]["id"] == message_id

    # Every line that mentions the id (RQ's own "<queue>: <id>" and "Job OK" included) has it
    # as its `id` field, so a search by field finds the whole story.
    for path, lines in ((listener.log, listener_lines), (tmp_path / "worker.log", worker_lines)):
        for line in lines:
            if message_id in str(line):
                assert line.get("id") == message_id, (path.name, line)
    assert any("Job OK" in line["event"] for line in trail), events
