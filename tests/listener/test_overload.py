"""docs/threat-model.md B13/B14 and the persist bound: a lagging loop, a queue backlog,
stuck persists."""

from __future__ import annotations

import logging
import time

import pytest
import redis

from mailbus.redis_server import RedisServer
from tests.listener.conftest import QUEUE_ERROR, Client, Running, logged_id, stored, wait_for

MSG = b"Subject: o\r\n\r\nbody\r\n.\r\n"
QUEUE = "rq:queue:mailbus"


def test_lagging_loop_refuses_new_connections_only(
    make_listener, real_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    """B13: 421 4.3.2 at connect while the loop lags; the session in DATA still gets its 250."""
    caplog.set_level(logging.INFO, logger="mailbus.listener")
    server: Running = make_listener(max_loop_lag=0.2)
    lag = server.listener.ctx.lag
    inflight = Client(server.port)
    inflight.start_data()
    server.loop.call_soon_threadsafe(time.sleep, 0.5)  # a blocking call on the loop
    assert wait_for(lambda: lag.busy, 3)
    busy = Client(server.port, greet=False)
    assert busy.reply() == "421 4.3.2 Too busy; please try again later"
    assert busy.is_closed()
    inflight.send(MSG)
    assert inflight.reply().startswith("250 2.0.0 Ok: queued as")
    assert wait_for(lambda: not lag.busy, 3)
    assert Client(server.port).cmd("NOOP") == "250 2.0.0 Ok"
    events = [r.getMessage() for r in caplog.records if r.getMessage().startswith("listener.loop")]
    assert events == ["listener.loop_lagging", "listener.loop_recovered"]
    assert server.counters["busy"] == 1
    assert stored(real_redis) == {"raw": 1, "jobs": 1, "status": 1}


def test_queue_backlog_refuses_mail_until_drained(
    make_listener, redis_server: RedisServer, real_redis: redis.Redis
) -> None:  # type: ignore[no-untyped-def]
    """B14: 452 4.3.1 at MAIL from the high watermark until below 90 % of it; fail open."""
    server: Running = make_listener(queue_high_watermark=10)
    backlog = server.listener.ctx.backlog
    real_redis.rpush(QUEUE, *range(10))
    assert wait_for(lambda: backlog.full, 3)
    client = Client(server.port)
    client.ehlo()
    assert client.cmd("MAIL FROM:<a@b.test>") == "452 4.3.1 Insufficient system storage"
    real_redis.lpop(QUEUE)  # 9: not below the low watermark (9) yet
    time.sleep(1.3)
    assert client.cmd("MAIL FROM:<a@b.test>") == "452 4.3.1 Insufficient system storage"
    assert stored(real_redis) == {"raw": 0, "jobs": 9, "status": 0}
    real_redis.lpop(QUEUE)
    assert wait_for(lambda: not backlog.full, 3)
    assert client.message(MSG).startswith("250 2.0.0 Ok: queued as")
    assert server.counters["backlog"] == 2
    real_redis.rpush(QUEUE, *range(10))
    assert wait_for(lambda: backlog.full, 3)
    redis_server.stop()  # an unreadable queue is no reason to refuse mail
    assert wait_for(lambda: not backlog.full, 3)
    assert client.cmd("MAIL FROM:<a@b.test>") == "250 2.1.0 Ok"


def test_queue_backlog_alone_drains_with_the_memory_guard_off(
    make_listener, real_redis: redis.Redis
) -> None:  # type: ignore[no-untyped-def]
    """B14 with MAILBUS_REDIS_MEMORY_HIGH_WATERMARK=0: the queue alone decides, both ways."""
    server: Running = make_listener(queue_high_watermark=10, redis_memory_high_watermark=0)
    backlog = server.listener.ctx.backlog
    real_redis.rpush(QUEUE, *range(10))
    assert wait_for(lambda: backlog.full, 3)
    client = Client(server.port)
    client.ehlo()
    assert client.cmd("MAIL FROM:<a@b.test>") == "452 4.3.1 Insufficient system storage"
    real_redis.delete(QUEUE)
    assert wait_for(lambda: not backlog.full, 3)
    assert client.message(MSG).startswith("250 2.0.0 Ok: queued as")


def test_redis_near_maxmemory_refuses_mail_until_memory_frees(
    make_listener, real_redis: redis.Redis
) -> None:  # type: ignore[no-untyped-def]
    """B14 on memory: 452 4.3.1 at MAIL while Redis uses over 80 % of maxmemory, so a write
    never meets a full Redis mid-DATA; mail flows again once memory is back under 72 %."""
    server: Running = make_listener(redis_memory_high_watermark=0.8)
    backlog = server.listener.ctx.backlog
    used = int(real_redis.info("memory")["used_memory"])
    real_redis.config_set("maxmemory", int(used / 0.95))  # about 95 % in use
    try:
        assert wait_for(lambda: backlog.full, 3)
        client = Client(server.port)
        client.ehlo()
        assert client.cmd("MAIL FROM:<a@b.test>") == "452 4.3.1 Insufficient system storage"
        assert stored(real_redis) == {"raw": 0, "jobs": 0, "status": 0}
        real_redis.config_set("maxmemory", used * 4)  # about 25 % in use
        assert wait_for(lambda: not backlog.full, 3)
        assert client.message(MSG).startswith("250 2.0.0 Ok: queued as")
        assert server.counters["backlog"] == 1
    finally:
        real_redis.config_set("maxmemory", 0)


def test_stalled_persists_do_not_pile_up(
    make_listener,
    redis_server: RedisServer,
    real_redis: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:  # type: ignore[no-untyped-def]
    """Waiting for a persist slot counts against the persist timeout: 451 4.3.0, no new thread."""
    patient = redis.Redis.from_url(redis_server.url, socket_timeout=5)  # the write outlives 451
    server: Running = make_listener(
        max_concurrent_persists=1, persist_timeout=0.5, connection=patient
    )
    persister = server.listener.ctx.persister
    first, second = Client(server.port), Client(server.port)
    first.start_data()
    second.start_data()
    real_redis.execute_command("CLIENT", "PAUSE", "1500", "WRITE")
    first.send(MSG)
    assert wait_for(lambda: bool(persister.inflight))
    started = time.monotonic()
    second.send(MSG)
    reply = second.reply()
    assert reply == f"{QUEUE_ERROR} (id={logged_id(caplog, second, 'message.rejected')})"
    assert time.monotonic() - started < 1.2
    assert len(persister.inflight) == 1  # the second message never got a thread
    reply = first.reply()
    assert reply == f"{QUEUE_ERROR} (id={logged_id(caplog, first, 'message.rejected')})"
    assert wait_for(lambda: not persister.inflight, 5)
    assert stored(real_redis)["status"] == 1  # the stalled first write, late; never the second
    assert second.message(MSG).startswith("250 2.0.0 Ok: queued as")
