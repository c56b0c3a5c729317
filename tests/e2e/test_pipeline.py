"""smtplib → `mailbus listen` → store + queue → `mailbus worker --burst` → a handler, for real.

Every test here runs the real processes against a real Redis server and speaks SMTP over real
sockets; nothing of ours is mocked.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import boto3
import pytest
import redis

from mailbus.stores import FileStore, RedisStore, S3Store
from tests.e2e.harness import (
    PNG,
    Listener,
    handled,
    mailbus,
    mailbus_env,
    multipart_message,
    queued_id,
    send,
)


def log_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


pytestmark = pytest.mark.e2e


@pytest.fixture(params=["redis", "s3", "file"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, aws_env: dict[str, str]) -> str:
    if request.param == "redis":
        return "redis"
    if request.param == "s3":
        bucket = f"mailbus-e2e-{uuid.uuid4().hex[:10]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        return f"s3://{bucket}/mail"
    return f"file://{tmp_path / 'store'}"


def open_test_store(url: str, connection: redis.Redis):
    if url == "redis":
        return RedisStore(connection)
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        return S3Store(bucket, prefix)
    return FileStore(url.removeprefix("file://"))


def test_a_message_travels_from_smtp_to_the_handler(
    store_url: str, tmp_path: Path, real_redis: redis.Redis, redis_server, aws_env
) -> None:
    env = mailbus_env(tmp_path, redis_server.url, store_url, **aws_env)
    with Listener(env) as listener:
        code, reply = send(listener.port, multipart_message("Printer on fire"))
    assert code == 250, reply
    message_id = queued_id(reply)

    store = open_test_store(store_url, real_redis)
    stored = store.get(f"raw/{message_id}")
    assert stored.startswith(b"Return-Path: <ada@example.org>\r\n")
    assert b"by mx.test (mailbus) with ESMTP id " + message_id.encode() in stored

    worker = mailbus("worker", "--burst", env=env)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    (record,) = handled(env)
    assert record["id"] == message_id
    assert record["subject"] == "Printer on fire"
    assert record["from"] == "ada@example.org"
    assert record["rcpt_tos"] == ["support@example.com"]
    assert "on fire" in record["text"]
    assert record["raw_sha256"] == hashlib.sha256(stored).hexdigest(), "msg.raw.read()"
    (attachment,) = record["attachments"]
    assert attachment["filename"] == "fire.png"
    assert attachment["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert store.get(attachment["key"]) == PNG

    shown = mailbus("show", message_id, env=env)
    assert shown.returncode == 0, shown.stderr
    for event in ("received", "queued", "parsed", "done"):
        assert event in shown.stdout


def test_redis_outage_during_data_gives_451_and_loses_nothing(
    tmp_path: Path, real_redis: redis.Redis, redis_server
) -> None:
    env = mailbus_env(tmp_path, redis_server.url, "redis")
    accepted: list[str] = []
    with Listener(env) as listener:
        code, reply = send(listener.port, multipart_message("before"))
        assert code == 250, reply
        accepted.append(queued_id(reply))

        redis_server.stop()
        try:
            code, reply = send(listener.port, multipart_message("during outage"))
        finally:
            redis_server.start()
        assert (code, reply[:5]) == (451, "4.3.0"), reply

        code, reply = send(listener.port, multipart_message("after"))
        assert code == 250, reply
        accepted.append(queued_id(reply))

    worker = mailbus("worker", "--burst", env=env)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    records = handled(env)
    assert sorted(r["id"] for r in records) == sorted(accepted)
    assert "during outage" not in {r["subject"] for r in records}
    raw_keys = {k.decode() for k in real_redis.scan_iter("mailbus:store:raw/*")}
    assert raw_keys == {f"mailbus:store:raw/{i}" for i in accepted}, "nothing half-written"


def test_a_resent_message_with_a_message_id_reaches_the_handler_once(
    tmp_path: Path, real_redis: redis.Redis, redis_server
) -> None:
    env = mailbus_env(tmp_path, redis_server.url, "redis")
    raw = multipart_message("sent twice", message_id="<twice@example.org>")
    with Listener(env) as listener:
        first = send(listener.port, raw)
        second = send(listener.port, raw)
    assert first[0] == second[0] == 250
    worker = mailbus("worker", "--burst", env=env)
    assert worker.returncode == 0, worker.stderr
    assert [r["subject"] for r in handled(env)] == ["sent twice"]
    first_id, second_id = queued_id(first[1]), queued_id(second[1])
    shown = mailbus("show", second_id, env=env).stdout
    assert f"duplicate  duplicate_of={first_id} reason=message-id" in shown, shown
    assert {"event": "message.duplicate", "id": second_id} in [
        {k: line.get(k) for k in ("event", "id")} for line in log_lines(worker.stdout)
    ]


def test_a_repeat_without_message_id_reaches_the_handler_each_time(
    tmp_path: Path, real_redis: redis.Redis, redis_server
) -> None:
    """Issue 9/5: a script sending the same alert twice (no Date:, no Message-ID:) sends two
    messages, not a retry of one: both reach the handler."""
    env = mailbus_env(tmp_path, redis_server.url, "redis")
    raw = (
        b"From: cron@example.org\r\nTo: support@example.com\r\nSubject: disk full\r\n\r\n/ 99%\r\n"
    )
    with Listener(env) as listener:
        replies = [send(listener.port, raw), send(listener.port, raw)]
    assert [code for code, _ in replies] == [250, 250]
    assert mailbus("worker", "--burst", env=env).returncode == 0
    assert sorted(r["id"] for r in handled(env)) == sorted(queued_id(r) for _, r in replies)


def test_the_retry_of_a_message_stored_despite_its_451_is_suppressed(
    tmp_path: Path, real_redis: redis.Redis, redis_server
) -> None:
    """Issue 9/5 (b): MAILBUS_REDIS_WAIT finds no replica after the message was committed, so
    the client gets 451 for a stored message; the sender's retry of it (no Message-ID), taken
    once the replica is back (here: a listener without the WAIT), is the same message."""
    env = mailbus_env(tmp_path, redis_server.url, "redis", MAILBUS_PERSIST_TIMEOUT="1")
    raw = b"From: cron@example.org\r\nTo: support@example.com\r\nSubject: late\r\n\r\nbody\r\n"
    with Listener({**env, "MAILBUS_REDIS_WAIT": "1"}) as listener:
        code, reply = send(listener.port, raw)
    assert (code, reply[:5]) == (451, "4.3.0"), reply
    (stored,) = real_redis.keys("mailbus:store:raw/*")
    stored_id = stored.decode().rsplit("/", 1)[1]
    with Listener(env) as listener:
        code, reply = send(listener.port, raw)  # the sender's retry
    assert code == 250, reply
    retry_id = queued_id(reply)
    worker = mailbus("worker", "--burst", env=env)
    assert worker.returncode == 0, worker.stderr
    assert [r["id"] for r in handled(env)] == [stored_id]
    shown = mailbus("show", retry_id, env=env).stdout
    assert f"duplicate  duplicate_of={stored_id} reason=resend" in shown, shown
    assert not real_redis.keys("mailbus:resend:*"), "the note is spent on the retry it awaited"


def test_a_dead_letter_is_requeued_after_the_handler_is_fixed(
    tmp_path: Path, real_redis: redis.Redis, redis_server
) -> None:
    flag = tmp_path / "fail"
    flag.touch()
    env = mailbus_env(
        tmp_path, redis_server.url, "redis", MAILBUS_RETRIES="1", E2E_FAIL_FLAG=str(flag)
    )
    with Listener(env) as listener:
        code, reply = send(listener.port, multipart_message("needs a fix"))
    message_id = queued_id(reply)
    assert mailbus("worker", "--burst", env=env).returncode == 0
    assert handled(env) == []

    listing = mailbus("failed", "list", env=env)
    assert message_id in listing.stdout and "handler told to fail" in listing.stdout

    flag.unlink()
    requeued = mailbus("failed", "requeue", message_id, env=env)
    assert requeued.returncode == 0, requeued.stderr
    assert mailbus("worker", "--burst", env=env).returncode == 0
    assert [r["id"] for r in handled(env)] == [message_id]
    assert message_id not in mailbus("failed", "list", env=env).stdout


def test_mail_for_other_domains_is_refused_at_rcpt(
    tmp_path: Path, real_redis: redis.Redis, redis_server
) -> None:
    env = mailbus_env(tmp_path, redis_server.url, "redis")
    with Listener(env) as listener:
        code, reply = send(listener.port, multipart_message(), to=("victim@elsewhere.org",))
        assert (code, reply[:5]) == (550, "5.7.1"), reply
        code, reply = send(listener.port, multipart_message())
        assert code == 250, reply
