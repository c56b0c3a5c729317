"""docs/threat-model.md D09/D15/D17 and the supervisor: S3 errors and stalls, a store that
cannot be written, a listener killed with SIGKILL mid-DATA, a crashed child replaced under
--processes 2."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
import redis
from botocore.config import Config

from mailbus.redis_server import RedisServer
from mailbus.stores import FileStore, S3Store
from tests.e2e.harness import Listener, mailbus_env
from tests.listener.conftest import QUEUE_ERROR, Client, Running, logged_id, stored, wait_for

MSG = b"Subject: f\r\n\r\nbody\r\n.\r\n"


class FakeS3(BaseHTTPRequestHandler):
    """Answers PUTs as the test says: `mode` is "ok", an HTTP status such as 503, or "stall"."""

    mode: str = "ok"
    objects: dict[str, bytes] = {}
    release = threading.Event()

    def do_PUT(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.mode == "stall":
            self.release.wait(5)
            return
        if self.mode != "ok":
            self.send_response(int(self.mode))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.objects[self.path] = body
        self.send_response(200)
        self.send_header("ETag", '"0"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_s3() -> Iterator[type[FakeS3]]:
    handler = type("Handler", (FakeS3,), {"objects": {}, "release": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield handler
    handler.release.set()
    server.shutdown()
    server.server_close()


def s3_store(url: str) -> S3Store:
    config = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1})
    client = boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
        config=config,
    )
    return S3Store(bucket="mail", prefix="in", client=client)


@pytest.mark.parametrize("mode", ["500", "503", "stall"])
def test_s3_faults_give_451_and_nothing_enqueued(
    make_listener,
    real_redis: redis.Redis,
    fake_s3: type[FakeS3],
    mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # type: ignore[no-untyped-def]
    """D09: S3 5xx/SlowDown or a stalled endpoint → 451 4.3.0; after recovery → 250."""
    fake_s3.mode = mode
    server: Running = make_listener(store=s3_store(fake_s3.url), persist_timeout=0.8)  # type: ignore[attr-defined]
    client = Client(server.port)
    client.ehlo()
    reply = client.message(MSG)
    assert reply == f"{QUEUE_ERROR} (id={logged_id(caplog, client, 'message.rejected')})"
    fake_s3.release.set()
    assert wait_for(lambda: not server.listener.ctx.persister.inflight, 5)
    assert stored(real_redis) == {"raw": 0, "jobs": 0, "status": 0}
    assert fake_s3.objects == {}
    fake_s3.mode = "ok"
    reply = client.message(MSG)
    assert reply.startswith("250 2.0.0 Ok: queued as")
    assert list(fake_s3.objects) == ["/mail/in/raw/" + reply.rsplit(" ", 1)[1]]
    assert stored(real_redis)["jobs"] == 1


def test_unwritable_file_store_gives_451_and_keeps_serving(
    make_listener, real_redis: redis.Redis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    """D17: the store cannot be written (its parent is a file: fails even as root) → 451 4.3.0."""
    (tmp_path / "not-a-dir").write_bytes(b"")
    server: Running = make_listener(store=FileStore(tmp_path / "not-a-dir" / "store"))
    client = Client(server.port)
    client.ehlo()
    reply = client.message(MSG)
    assert reply == f"{QUEUE_ERROR} (id={logged_id(caplog, client, 'message.rejected')})"
    assert client.cmd("NOOP") == "250 2.0.0 Ok"
    assert stored(real_redis) == {"raw": 0, "jobs": 0, "status": 0}
    assert Client(server.port).ehlo()[0].startswith("250")


def test_sigkill_mid_data_gives_no_250_and_enqueues_nothing(
    redis_server: RedisServer, real_redis: redis.Redis, tmp_path: Path
) -> None:
    """D15: kill -9 between 354 and the dot: the client sees the connection drop, Redis holds
    nothing for the message, and a listener started again serves normally."""
    env = mailbus_env(tmp_path, redis_server.url, "redis")
    with Listener(env) as listener:
        client = Client(listener.port)
        client.ehlo()
        assert client.cmd("MAIL FROM:<a@b.test>") == "250 2.1.0 Ok"
        assert client.cmd("RCPT TO:<u@example.com>") == "250 2.1.5 Ok"
        assert client.cmd("DATA").startswith("354")
        client.send(b"Subject: killed\r\n\r\n" + b"x" * 10_000 + b"\r\n")
        listener.process.send_signal(signal.SIGKILL)
        listener.process.wait(10)
        assert client.is_closed()
        assert b"250" not in client.buffer
    assert stored(real_redis) == {"raw": 0, "jobs": 0, "status": 0}
    with Listener(env) as again:
        client = Client(again.port)
        client.ehlo()
        assert client.message(MSG).startswith("250 2.0.0 Ok: queued as")
    assert stored(real_redis)["jobs"] == 1


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _dead(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def _serves(port: int) -> bool:
    try:
        return Client(port).cmd("NOOP") == "250 2.0.0 Ok"
    except ConnectionError:
        return False


def test_supervisor_replaces_a_crashed_child(redis_server: RedisServer, tmp_path: Path) -> None:
    """With --processes 2, SIGKILL one child: the port keeps serving and a new child appears."""
    env = mailbus_env(tmp_path, redis_server.url, "redis")
    with Listener(env, "--processes", "2") as listener:
        ready = lambda n: listener.log.read_text().count("listener.ready") >= n  # noqa: E731
        assert wait_for(lambda: ready(2), 10)
        before = _children(listener.process.pid)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        assert wait_for(lambda: _dead(victim), 5)
        # A connection racing the kill may be reset with the dead socket (clients retry it).
        assert wait_for(lambda: _serves(listener.port), 5)
        assert wait_for(lambda: ready(3) and len(_children(listener.process.pid)) == 2, 10)
        for _ in range(10):  # the kernel spreads connections over both children
            assert Client(listener.port).cmd("NOOP") == "250 2.0.0 Ok"
