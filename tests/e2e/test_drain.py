"""A listener stopped with SIGTERM while clients are mid-DATA: every `250` is processed exactly
once, and a message without `250` is the sender's to retry (docs/threat-model.md D14)."""

from __future__ import annotations

import collections
import socket
import threading
import time
from pathlib import Path

import pytest
import redis

from tests.e2e.harness import Listener, handled, mailbus, mailbus_env, multipart_message

pytestmark = pytest.mark.e2e


def slow_send(port: int, raw: bytes, chunks: int, pause: float) -> str:
    """One transaction over a raw socket, uploading DATA in pieces; returns the final reply or
    what ended the session."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            reader = sock.makefile("rb")

            def command(line: bytes) -> bytes:
                sock.sendall(line)
                reply = reader.readline()
                while reply[3:4] == b"-":
                    reply = reader.readline()
                return reply

            if not reader.readline().startswith(b"220"):
                return "no greeting"
            for line in (b"EHLO c\r\n", b"MAIL FROM:<a@example.org>\r\n",
                         b"RCPT TO:<support@example.com>\r\n", b"DATA\r\n"):  # fmt: skip
                reply = command(line)
                if reply[:1] not in (b"2", b"3"):
                    return reply.decode().strip()
            body = raw.replace(b"\n", b"\r\n") if b"\r\n" not in raw else raw
            step = len(body) // chunks + 1
            for start in range(0, len(body), step):
                sock.sendall(body[start : start + step])
                time.sleep(pause)
            return command(b"\r\n.\r\n").decode().strip() or "closed"
    except OSError as exc:
        return f"error: {type(exc).__name__}"


def test_sigterm_mid_data_never_loses_or_duplicates_an_accepted_message(
    tmp_path: Path, real_redis: redis.Redis, redis_server
) -> None:
    env = mailbus_env(tmp_path, redis_server.url, "redis", MAILBUS_SHUTDOWN_GRACE="3")
    results: list[str] = []
    listener = Listener(env)
    try:
        threads = [
            threading.Thread(
                target=lambda i=i: results.append(
                    slow_send(listener.port, multipart_message(f"drain {i}"), 8, 0.12 * (i % 6))
                )
            )
            for i in range(24)
        ]
        for thread in threads:
            thread.start()
            time.sleep(0.01)
        time.sleep(0.3)
        listener.process.terminate()
        for thread in threads:
            thread.join(timeout=60)
        assert listener.process.wait(timeout=30) == 0
    finally:
        listener.stop()

    accepted = [r.rsplit(" ", 1)[1] for r in results if r.startswith("250 ")]
    assert len(results) == 24
    assert accepted, f"some message should have finished before the drain: {results}"
    assert len(accepted) < len(results), "the slowest uploads outlast the 3 s grace"
    for reply in results:  # a connection still in the accept queue at SIGTERM is closed unheard
        assert reply.startswith(("250 2.0.0", "421 4.3.2", "error:", "closed", "no greeting")), (
            reply
        )

    worker = mailbus("worker", "--burst", env=env)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    calls = collections.Counter(r["id"] for r in handled(env))
    assert calls == collections.Counter(accepted), "each 250 handled exactly once"
