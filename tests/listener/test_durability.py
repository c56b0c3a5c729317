"""Issue 2/3 durability: Redis down or slow during DATA → 451 4.3.0, never half-written.

Case ids (A01, B14, …) in the docstrings point into docs/threat-model.md.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import boto3
import pytest
import redis
from moto import mock_aws

from mailbus.connections import redis_connection
from mailbus.redis_server import RedisServer, free_port
from mailbus.status import timeline
from mailbus.stores import FileStore, S3Store
from tests.listener.conftest import QUEUE_ERROR, Client, Running, logged_id, stored, wait_for
from tests.workers import handlers_basic
from workers import context
from workers.worker import drain

MSG = b"Subject: d\r\n\r\nbody\r\n.\r\n"


def test_redis_outage_during_data_gives_451_then_recovers(
    make_listener,
    redis_server: RedisServer,
    real_redis: redis.Redis,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    """D01: stop Redis between 354 and the dot; the transaction resets; next mail after restart."""
    server: Running = make_listener()
    client = Client(server.port)
    client.start_data()
    redis_server.stop()
    client.send(MSG)
    reply = client.reply()
    assert reply == f"{QUEUE_ERROR} (id={logged_id(caplog, client, 'message.rejected')})"
    assert client.cmd("MAIL FROM:<a@b.test>") == "250 2.1.0 Ok"  # envelope was reset
    client.cmd("RSET")
    redis_server.start()
    after = redis.Redis.from_url(redis_server.url)
    assert stored(after) == {"raw": 0, "jobs": 0, "status": 0}
    assert client.message(MSG).startswith("250 2.0.0 Ok: queued as")
    assert stored(after) == {"raw": 1, "jobs": 1, "status": 1}
    assert server.counters["persist_failed"] == 1


def test_closed_redis_port_gives_451(make_listener, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    server: Running = make_listener(redis_url=dead)
    client = Client(server.port)
    client.start_data()
    client.send(MSG)
    reply = client.reply()
    assert reply == f"{QUEUE_ERROR} (id={logged_id(caplog, client, 'message.rejected')})"


def test_slow_redis_gives_451_within_the_persist_bound(
    make_listener,
    real_redis: redis.Redis,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    """D02: a stalled Redis (CLIENT PAUSE) — 451 by persist_timeout, nothing half-written."""
    server: Running = make_listener(persist_timeout=0.5)
    client = Client(server.port)
    client.start_data()
    real_redis.execute_command("CLIENT", "PAUSE", "2000", "WRITE")
    started = time.monotonic()
    client.send(MSG)
    reply = client.reply()
    assert reply == f"{QUEUE_ERROR} (id={logged_id(caplog, client, 'message.rejected')})"
    assert time.monotonic() - started < 1.5
    assert client.cmd("NOOP") == "250 2.0.0 Ok"  # the event loop was never blocked
    assert wait_for(lambda: not server.listener.ctx.persister.inflight, 5)
    state = stored(real_redis)
    assert state["raw"] == state["jobs"] == state["status"]  # all or nothing (MULTI/EXEC)


def test_client_hang_up_does_not_cancel_the_persist(
    make_listener,
    real_redis: redis.Redis,  # type: ignore[no-untyped-def]
) -> None:
    """D08(a/b): the write runs in its own shielded task; the client leaving changes nothing."""
    server: Running = make_listener(persist_timeout=5.0)
    client = Client(server.port)
    client.start_data()
    real_redis.execute_command("CLIENT", "PAUSE", "500", "WRITE")
    client.send(MSG)
    assert wait_for(lambda: bool(server.listener.ctx.persister.inflight))
    client.close()
    assert wait_for(lambda: stored(real_redis)["jobs"] == 1, 5)
    assert stored(real_redis) == {"raw": 1, "jobs": 1, "status": 1}


def test_file_store_raw_is_removed_when_enqueue_fails(
    make_listener,
    redis_server: RedisServer,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    """D06: store first, then MULTI(enqueue + status); on failure delete the raw best-effort."""
    store = FileStore(str(tmp_path))
    server: Running = make_listener(store=store, persist_timeout=1.0)
    client = Client(server.port)
    client.start_data()
    redis_server.stop()
    client.send(MSG)
    reply = client.reply()
    assert reply == f"{QUEUE_ERROR} (id={logged_id(caplog, client, 'message.rejected')})"
    assert list(store.keys("raw/")) == []
    redis_server.start()
    reply = client.message(MSG)
    assert reply.startswith("250 2.0.0")
    assert list(store.keys("raw/")) == ["raw/" + reply.rsplit(" ", 1)[1]]


def test_s3_store_takes_the_message_buffer(
    make_listener,
    real_redis: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="mail")
        store = S3Store(bucket="mail", prefix="in")
        server: Running = make_listener(store=store)
        client = Client(server.port)
        client.ehlo()
        reply = client.message(MSG)
        assert reply.startswith("250 2.0.0")
        assert store.get("raw/" + reply.rsplit(" ", 1)[1]).endswith(b"Subject: d\r\n\r\nbody\r\n")
        assert stored(real_redis)["jobs"] == 1


def test_internal_error_is_a_421_without_exception_text(
    listener: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E09/D01: never aiosmtpd's `500 Error: (Class) text`."""
    from listener import gate

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret at 10.0.0.5")

    monkeypatch.setattr(gate, "check_sender", boom)
    client = Client(listener.port)
    client.ehlo()
    assert client.cmd("MAIL FROM:<a@b.test>") == "421 4.3.0 mx.test Error: internal error"
    assert client.is_closed()
    assert Client(listener.port).ehlo()[0].startswith("250")


def test_redis_wait_needs_the_replicas(make_listener, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """MAILBUS_REDIS_WAIT=1 with no replica: WAIT times out → 451 (the sender retries)."""
    server: Running = make_listener(redis_wait="1", persist_timeout=0.6)
    client = Client(server.port)
    client.start_data()
    started = time.monotonic()
    client.send(MSG)
    reply = client.reply()
    assert reply == f"{QUEUE_ERROR} (id={logged_id(caplog, client, 'message.rejected')})"
    assert time.monotonic() - started < 2


def test_redis_wait_with_a_replica_accepts(
    make_listener,
    redis_server: RedisServer,
    real_redis: redis.Redis,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    real_redis.config_set("repl-diskless-sync-delay", 0)
    port = free_port()
    replica = subprocess.Popen(
        [redis_server.binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path), "--replicaof", "127.0.0.1",
         str(redis_server.port)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert wait_for(lambda: "online" in str(real_redis.info("replication").get("slave0")), 10)
        server: Running = make_listener(redis_wait="1", persist_timeout=3.0)
        client = Client(server.port)
        client.ehlo()
        assert client.message(MSG).startswith("250 2.0.0 Ok: queued as")
    finally:
        replica.terminate()
        replica.wait(10)


def test_redis_out_of_memory_gives_451(
    make_listener, real_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    """D03: writes refused with OOM → 451 4.3.0 (never a 5xx: the sender keeps the mail)."""
    server: Running = make_listener()
    client = Client(server.port)
    client.start_data()
    real_redis.config_set("maxmemory", 1)
    try:
        client.send(MSG)
        reply = client.reply()
        assert reply == f"{QUEUE_ERROR} (id={logged_id(caplog, client, 'message.rejected')})"
    finally:
        real_redis.config_set("maxmemory", 0)
    assert stored(real_redis)["raw"] == 0
    # the backlog guard may have polled while at maxmemory: MAIL gets 452 until it polls again
    assert wait_for(lambda: not server.listener.ctx.backlog.full, 3)
    assert client.message(MSG).startswith("250 2.0.0")


def test_concurrent_messages_commit_together_each_exactly_once(
    make_listener,
    redis_server: RedisServer,
    real_redis: redis.Redis,  # type: ignore[no-untyped-def]
) -> None:
    """Group commit: messages whose dots arrive together share one transaction, and each still
    gets its own 250 with its own raw bytes, job and timeline; a stall 451s the whole group."""
    server: Running = make_listener()
    clients = [Client(server.port) for _ in range(12)]
    for client in clients:
        client.start_data()
    real_redis.execute_command("CLIENT", "PAUSE", "300", "WRITE")  # let the dots pile up
    for client in clients:
        client.send(MSG)
    replies = [client.reply() for client in clients]
    assert all(r.startswith("250 2.0.0 Ok: queued as ") for r in replies), replies
    ids = {r.rsplit(" ", 1)[1] for r in replies}
    assert len(ids) == 12
    assert stored(real_redis) == {"raw": 12, "jobs": 12, "status": 12}
    for message_id in ids:
        assert real_redis.exists(f"mailbus:store:raw/{message_id}", f"rq:job:{message_id}") == 2


def test_a_message_stored_after_its_451_makes_the_retry_a_duplicate(
    make_listener,
    redis_server: RedisServer,
    real_redis: redis.Redis,  # type: ignore[no-untyped-def]
) -> None:
    """Issue 9/5 (b): Redis stalls past the persist timeout, the client gets 451, and the write
    lands afterwards (the client's socket waits longer than the persist budget, as it does when
    the budget went on waiting for a slot). The listener notes it, so the sender's retry of the
    message, without a Message-ID, reaches the handlers once: the workers run the stored copy."""
    slow_socket = redis_connection(redis_server.url, fail_fast=True, timeout=5.0)
    server: Running = make_listener(persist_timeout=0.5, connection=slow_socket)
    client = Client(server.port)
    client.start_data()
    real_redis.execute_command("CLIENT", "PAUSE", "1500", "WRITE")
    client.send(MSG)
    reply = client.reply()
    assert wait_for(lambda: bool(real_redis.keys("mailbus:resend:*")), 5)
    (raw,) = real_redis.keys("mailbus:store:raw/*")
    stored_id = raw.decode().rsplit("/", 1)[1]
    assert reply == f"{QUEUE_ERROR} (id={stored_id})"  # the id of the copy that did land
    (note,) = real_redis.keys("mailbus:resend:*")
    assert real_redis.get(note) == stored_id.encode()

    retry = client.message(MSG, sender="a@b.test", to="u@example.com")  # the sender's retry
    assert retry.startswith("250 2.0.0 Ok: queued as ")
    retry_id = retry.rsplit(" ", 1)[1]
    handlers_basic.calls.clear()
    try:
        drain(context.build(server.settings, handlers_basic.with_default, connection=real_redis))
    finally:
        context.install(None)
    assert [(name, message_id) for name, message_id, _ in handlers_basic.calls] == [
        ("fallback", stored_id)
    ]
    duplicate = [e for e in timeline(real_redis, retry_id) if e["event"] == "duplicate"]
    assert duplicate and duplicate[0]["duplicate_of"] == stored_id
    assert duplicate[0]["reason"] == "resend"
