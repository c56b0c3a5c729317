"""serve(): real processes on one port, ready line, SIGTERM drain; in-process drain (D14)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from typing import IO

import redis

from mailbus.redis_server import RedisServer, free_port
from tests.conftest import subprocess_env
from tests.listener.conftest import Client, Running, stored, wait_for

SERVE = (
    "import sys; from mailbus.settings import Settings; from listener.server import serve; "
    "sys.exit(serve(Settings.from_env(env_file=None, role='listen'), processes=int(sys.argv[1])))"
)


def start_serve(redis_server: RedisServer, processes: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = subprocess_env(
        MAILBUS_REDIS_URL=redis_server.url,
        MAILBUS_DOMAINS="example.com",
        MAILBUS_HOST="127.0.0.1",
        MAILBUS_PORT=str(port),
        MAILBUS_HOSTNAME="mx.test",
        MAILBUS_SHUTDOWN_GRACE="3",
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(processes)], env=env, stdout=subprocess.PIPE
    )
    ready = set()
    deadline = time.monotonic() + 20
    assert proc.stdout is not None
    while len(ready) < processes and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        event = json.loads(line)
        if event["event"] == "listener.ready":
            assert event["port"] == port and event["host"] == "127.0.0.1"
            ready.add(event["pid"])
    assert len(ready) == processes, "listeners did not log listener.ready"
    threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
    return proc, port


def _drain(stream: IO[bytes]) -> None:
    """Keep the listener's stdout pipe drained; close our end once the listener has exited."""
    with stream:
        stream.read()


def test_serve_two_processes_share_the_port_and_stop_on_sigterm(
    redis_server: RedisServer, real_redis: redis.Redis
) -> None:
    proc, port = start_serve(redis_server, 2)
    try:
        for _ in range(6):
            client = Client(port)
            client.ehlo()
            assert client.message(b"hi\r\n.\r\n").startswith("250 2.0.0 Ok: queued as")
            client.cmd("QUIT")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        proc.kill()
    assert stored(real_redis)["jobs"] == 6


def test_serve_sigterm_says_421_to_idle_sessions(redis_server: RedisServer) -> None:
    proc, port = start_serve(redis_server, 1)
    try:
        client = Client(port)
        client.ehlo()
        proc.send_signal(signal.SIGTERM)
        assert client.reply() == "421 4.3.2 Service shutting down"
        assert proc.wait(10) == 0
    finally:
        proc.kill()


def test_drain_lets_persisting_data_finish_and_refuses_the_rest(
    make_listener,
    real_redis: redis.Redis,  # type: ignore[no-untyped-def]
) -> None:
    """D14: idle → 421 4.3.2; in-flight DATA waiting on a slow Redis still gets its 250."""
    server: Running = make_listener(persist_timeout=5.0)
    idle, busy = Client(server.port), Client(server.port)
    idle.ehlo()
    busy.ehlo()
    busy.cmd("MAIL FROM:<a@b.test>")
    busy.cmd("RCPT TO:<u@example.com>")
    busy.cmd("DATA")
    real_redis.execute_command("CLIENT", "PAUSE", "800", "WRITE")
    busy.send(b"hello\r\n.\r\n")
    assert wait_for(lambda: any(s.phase == "persist" for s in server.listener.ctx.sessions))
    draining = threading.Thread(target=server.call, args=(server.listener.drain(4.0),))
    draining.start()
    assert idle.reply() == "421 4.3.2 Service shutting down"
    assert busy.reply().startswith("250 2.0.0 Ok: queued as")
    assert busy.reply() == "421 4.3.2 Service shutting down"
    draining.join(10)
    assert stored(real_redis)["jobs"] == 1
    try:
        Client(server.port, timeout=2)
        raise AssertionError("a new connection was accepted while draining")
    except (ConnectionError, OSError):
        pass


def test_warns_when_redis_can_forget_mail(
    redis_server: RedisServer,
    real_redis: redis.Redis,
    caplog,  # type: ignore[no-untyped-def]
) -> None:
    from listener.server import warn_redis
    from tests.listener.conftest import settings_for

    real_redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        warn_redis(settings_for(redis_server))
    finally:
        real_redis.config_set("maxmemory-policy", "noeviction")
    assert "listener.redis_may_evict" in caplog.text
    warn_redis(settings_for(redis_server, redis_url="redis://127.0.0.1:1/0"))  # errors ignored
