"""docs/threat-model.md B06/B09/A20/B15: per-client connection, message and recipient rates,
exemptions, repeated EHLO, and health-check probes that leave no trace."""

from __future__ import annotations

import logging
import socket

import pytest
import redis

from listener.limits import RateLimiter
from tests.listener.conftest import HOST, Client, Running, stored, wait_for

MSG = b"Subject: r\r\n\r\nbody\r\n.\r\n"
TOO_MUCH_MAIL = "450 4.7.1 Error: too much mail from 127.0.0.1"
TOO_MANY_RCPTS = "450 4.7.1 Error: too many recipients from 127.0.0.1"


def test_rate_limiter_slides_over_two_windows() -> None:
    now = [0.0]
    rate = RateLimiter(4, window=60, clock=lambda: now[0])
    assert [rate.allow("a") for _ in range(5)] == [True] * 4 + [False]
    assert rate.allow("b")  # per key
    now[0] = 90.0  # half of the previous window still counts: 4 * 0.5 = 2
    assert [rate.allow("a") for _ in range(3)] == [True, True, False]
    now[0] = 240.0  # two windows later everything is forgotten
    assert rate.allow("a") and rate.previous == {}
    assert all(RateLimiter(0).allow("a") for _ in range(100))  # 0 = off


def test_connection_rate_per_client(make_listener, real_redis: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """B06: past the rate, 421 4.7.0 at connect; other IPs and exempt networks go on."""
    server: Running = make_listener(
        connection_rate_limit=3, max_connections_per_ip=2, limit_exempt=("127.0.0.3/32",)
    )
    for _ in range(3):
        assert Client(server.port).cmd("QUIT") == "221 2.0.0 Bye"
    refused = Client(server.port, greet=False)
    assert refused.reply() == f"421 4.7.0 {HOST} Error: too many connections from 127.0.0.1"
    assert refused.is_closed()
    assert server.counters["connection_rate"] == 1
    other = Client(server.port, source="127.0.0.2")
    other.ehlo()
    assert other.message(MSG).startswith("250 2.0.0 Ok: queued as")
    exempt = [Client(server.port, source="127.0.0.3") for _ in range(5)]  # rate and count
    assert [c.cmd("NOOP") for c in exempt] == ["250 2.0.0 Ok"] * 5
    assert stored(real_redis) == {"raw": 1, "jobs": 1, "status": 1}


def test_message_rate_per_client_across_connections(make_listener, real_redis: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """B09: 450 4.7.1 at MAIL once the client passed its messages per minute."""
    server: Running = make_listener(message_rate_limit=2)
    client = Client(server.port)
    client.ehlo()
    assert client.message(MSG).startswith("250 2.0.0")
    assert client.message(MSG).startswith("250 2.0.0")
    assert client.cmd("MAIL FROM:<a@b.test>") == TOO_MUCH_MAIL
    again = Client(server.port)
    again.ehlo()
    assert again.cmd("MAIL FROM:<a@b.test>") == TOO_MUCH_MAIL
    assert again.cmd("RCPT TO:<u@example.com>") == "503 5.5.1 Error: need MAIL command"
    assert stored(real_redis) == {"raw": 2, "jobs": 2, "status": 2}
    other = Client(server.port, source="127.0.0.2")
    other.ehlo()
    assert other.message(MSG).startswith("250 2.0.0")
    assert server.counters["message_rate"] == 2


def test_recipient_rate_per_client(make_listener, real_redis: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """B09: 450 4.7.1 at RCPT; the recipients already accepted still get their message."""
    server: Running = make_listener(recipient_rate_limit=3)
    client = Client(server.port)
    client.ehlo()
    assert client.cmd("MAIL FROM:<a@b.test>") == "250 2.1.0 Ok"
    for n in range(3):
        assert client.cmd(f"RCPT TO:<u{n}@example.com>") == "250 2.1.5 Ok"
    assert client.cmd("RCPT TO:<u3@example.com>") == TOO_MANY_RCPTS
    assert client.cmd("DATA").startswith("354")
    client.send(MSG)
    assert client.reply().startswith("250 2.0.0")
    assert client.cmd("MAIL FROM:<a@b.test>") == "250 2.1.0 Ok"
    assert client.cmd("RCPT TO:<u@example.com>") == TOO_MANY_RCPTS
    assert client.cmd("DATA") == "503 5.5.1 Error: need RCPT command"
    assert stored(real_redis) == {"raw": 1, "jobs": 1, "status": 1}
    other = Client(server.port, source="127.0.0.2")
    other.ehlo()
    assert other.message(MSG).startswith("250 2.0.0")


def test_repeated_ehlo_resets_nothing_but_the_transaction(make_listener) -> None:  # type: ignore[no-untyped-def]
    """A20: 50 EHLOs neither lift the message rate nor grow the MAIL line limit."""
    server: Running = make_listener(message_rate_limit=1, junk_command_limit=100)
    client = Client(server.port)
    client.ehlo()
    assert client.message(MSG).startswith("250 2.0.0")
    for _ in range(50):
        assert client.ehlo()[-1] == "250 ENHANCEDSTATUSCODES"
    assert client.cmd("MAIL FROM:<a@b.test>") == TOO_MUCH_MAIL
    long_mail = "MAIL FROM:<a@b.test> SIZE=10 " + "X" * 600
    assert client.cmd(long_mail) == "500 5.5.2 Error: command too long"
    assert Client(server.port, source="127.0.0.2").cmd("NOOP") == "250 2.0.0 Ok"


def test_health_checks_are_quiet(
    listener: Running, real_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """B15: connect+close (before or after the greeting) is no error, debug-only, no Redis."""
    caplog.set_level(logging.DEBUG, logger="mailbus.listener")
    for _ in range(3):
        socket.create_connection(("127.0.0.1", listener.port)).close()
        Client(listener.port).close()
    assert wait_for(lambda: not listener.listener.ctx.sessions and len(_ends(caplog)) == 6)
    assert {(r.levelno, r.mailbus_fields["reason"]) for r in _ends(caplog)} == {
        (logging.DEBUG, "probe")
    }
    assert listener.counters == {}
    assert real_redis.dbsize() == 0
    assert Client(listener.port).cmd("NOOP") == "250 2.0.0 Ok"


def _ends(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "session.end"]
