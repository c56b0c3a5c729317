"""Issue 3 acceptance: many idle connections are held or shed, a normal client is still served.

Bounded and loopback-only; asserts behaviour and a generous memory ceiling, never throughput.
"""

from __future__ import annotations

import logging
import resource
import socket

import pytest
import redis

from tests.listener.conftest import HOST, Client, Running, stored

HELD, EXTRA = 1000, 50


def test_thousand_idle_connections_and_shedding(
    make_listener,
    real_redis: redis.Redis,  # type: ignore[no-untyped-def]
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if min(hard, 10 * HELD) < 3 * (HELD + EXTRA):
        pytest.skip("not enough file descriptors for both ends of the connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 3 * (HELD + EXTRA)), hard))
    # One IP opens them all in a burst: rate limit and lag guard off (docs/threat-model.md B06
    # and B13 are tested apart).
    server: Running = make_listener(
        max_connections=HELD + 1,
        max_connections_per_ip=HELD + 10,
        connection_rate_limit=0,
        max_loop_lag=0,
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(HELD)]
    shed: list[socket.socket] = []
    try:
        for sock in idle[:: HELD // 20]:
            assert sock.recv(100).startswith(b"220 ")
        client = Client(server.port)  # the last free slot: a normal client gets through
        client.ehlo()
        assert client.message(b"hi\r\n.\r\n").startswith("250 2.0.0")
        shed += [socket.create_connection(("127.0.0.1", server.port)) for _ in range(EXTRA)]
        refusal = f"421 4.7.0 {HOST} Error: too many connections from 127.0.0.1\r\n".encode()
        assert all(sock.recv(200) == refusal for sock in shed)
        assert client.cmd("NOOP") == "250 2.0.0 Ok"  # still served while being flooded
        growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
        assert growth_kib < 150 * 1024, f"RSS grew {growth_kib} KiB for {HELD} idle sessions"
        assert server.counters["connections"] == EXTRA
    finally:
        for sock in idle + shed:
            sock.close()
    assert stored(real_redis)["jobs"] == 1


def test_one_json_line_per_message_and_per_session(
    listener: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailbus.listener")
    client = Client(listener.port)
    client.ehlo()
    reply = client.message(b"hi\r\n.\r\n")
    client.cmd("QUIT")
    client.is_closed()
    records = {r.getMessage(): r for r in caplog.records}
    fields = records["message.queued"].__dict__["mailbus_fields"]
    assert fields["id"] == reply.rsplit(" ", 1)[1]
    assert fields["rcpt_tos"] == ["u@example.com"] and fields["size"] == 4
    assert fields["reply"] == reply and fields["persist_ms"] > 0
    assert [r.getMessage() for r in caplog.records].count("message.queued") == 1
    session = records["session.end"].__dict__["mailbus_fields"]
    assert session["messages"] == 1 and session["errors"] == 0
