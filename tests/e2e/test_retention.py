"""The worker supervisor applies MAILBUS_RETENTION: real `mailbus worker` processes, a real
Redis server, a directory and moto's S3 server."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import boto3
import pytest
import redis

from mailbus.retention import LOCK
from tests.e2e.harness import (
    Listener,
    handled,
    mailbus,
    mailbus_env,
    multipart_message,
    queued_id,
    send,
)

pytestmark = pytest.mark.e2e


def test_the_supervisor_sweeps_the_file_store_but_keeps_a_dead_letters_raw_bytes(
    tmp_path: Path, real_redis: redis.Redis, redis_server
) -> None:
    root = tmp_path / "store"
    flag = tmp_path / "fail"
    flag.touch()
    env = mailbus_env(tmp_path, redis_server.url, f"file://{root}", MAILBUS_RETRIES="0",
                      MAILBUS_RETENTION="60", E2E_FAIL_FLAG=str(flag))  # fmt: skip
    with Listener(env) as listener:
        dead = queued_id(send(listener.port, multipart_message("fails"))[1])
        assert mailbus("worker", "--burst", env=env).returncode == 0
        flag.unlink()
        done = queued_id(send(listener.port, multipart_message("works"))[1])
        assert mailbus("worker", "--burst", env=env).returncode == 0
    assert [r["id"] for r in handled(env)] == [done]
    files = [p for p in root.rglob("*") if p.is_file()]
    assert {p.parent.name for p in files} == {"raw", "done", "attachments"}
    then = time.time() - 120  # everything older than the retention
    for path in files:
        os.utime(path, (then, then))

    deadline = time.monotonic() + 10  # the last run's sweep holds the lock for one interval
    while real_redis.exists(LOCK) and time.monotonic() < deadline:
        time.sleep(0.1)
    worker = mailbus("worker", "--burst", env=env)
    assert worker.returncode == 0, worker.stderr
    assert '"event": "retention.swept"' in worker.stdout
    left = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert f"raw/{done}" not in left and f"done/{done}" not in left
    assert f"raw/{dead}" in left, "a dead letter's raw bytes stay while it is dead"
    assert not any(key.startswith("attachments/") for key in left)


def test_the_supervisor_makes_the_bucket_expire_the_store(
    tmp_path: Path, real_redis: redis.Redis, redis_server, aws_env: dict[str, str]
) -> None:
    bucket = f"mailbus-expiry-{uuid.uuid4().hex[:10]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    env = mailbus_env(tmp_path, redis_server.url, f"s3://{bucket}/mail",
                      MAILBUS_RETENTION=str(10 * 86_400), **aws_env)  # fmt: skip
    worker = mailbus("worker", "--burst", env=env)
    assert worker.returncode == 0, worker.stderr
    assert '"outcome": "added"' in worker.stdout
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Filter"] == {"Prefix": "mail/"} and rule["Expiration"] == {"Days": 10}
