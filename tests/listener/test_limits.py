"""Issue 3 items 2-3: timeouts like Postfix, error/junk limits, connection caps, pipelining.

Case ids (A01, B14, …) in the docstrings point into docs/threat-model.md.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

import pytest
import redis

from listener.limits import client_key
from mailbus.logs import fields_of
from tests.listener.conftest import HOST, Client, Running, logged_id, stored, wait_for

TOO_MANY_ERRORS = f"421 4.7.0 {HOST} Error: too many errors"
TIMEOUT = f"421 4.4.2 {HOST} Error: timeout exceeded"


def test_empty_line_flood_hits_the_hard_error_limit(make_listener) -> None:  # type: ignore[no-untyped-def]
    """A03: 500 5.5.2 each, then 421 4.7.0 and close."""
    server: Running = make_listener(hard_error_limit=5)
    client = Client(server.port)
    client.send(b"\r\n" * 3000)
    assert [client.reply() for _ in range(5)] == ["500 5.5.2 Error: bad syntax"] * 5
    assert client.reply() == TOO_MANY_ERRORS
    assert client.is_closed()
    assert server.counters["errors"] == 1
    assert Client(server.port).ehlo()[0].startswith("250")


def test_closing_for_too_many_errors_logs_a_warning(
    make_listener: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 9 defect 7: the operator sees who was cut off, after how many errors, doing what."""
    caplog.set_level(logging.INFO, logger="mailbus.listener")
    server: Running = make_listener(hard_error_limit=3)
    client = Client(server.port)
    client.ehlo()
    assert client.cmd("MAIL FROM:<a@b.test>") == "250 2.1.0 Ok"
    for _ in range(3):
        client.cmd("RCPT TO:<u@elsewhere.test>")  # 550 5.7.1 relay access denied
    assert client.cmd("NOOP") == TOO_MANY_ERRORS
    warnings = [r for r in caplog.records if r.getMessage() == "session.too_many_errors"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert fields_of(warnings[0]) == {"peer": "127.0.0.1", "errors": 3, "verb": "RCPT"}


def test_soft_error_limit_slows_replies(make_listener) -> None:  # type: ignore[no-untyped-def]
    server: Running = make_listener(soft_error_limit=1, hard_error_limit=3)
    client = Client(server.port)
    assert client.cmd("FOO") == "500 5.5.2 Error: command not recognized"
    started = time.monotonic()
    assert client.cmd("BAR") == "500 5.5.2 Error: command not recognized"
    assert time.monotonic() - started >= 0.9


def test_errors_survive_rset_and_ehlo(make_listener) -> None:  # type: ignore[no-untyped-def]
    """E11: counters are per connection, not per transaction."""
    server: Running = make_listener(hard_error_limit=4)
    client = Client(server.port)
    for _ in range(2):
        client.cmd("FOO")
        client.cmd("RSET")
        client.ehlo()
    client.cmd("FOO")
    client.cmd("FOO")
    assert client.cmd("NOOP") == TOO_MANY_ERRORS


def test_overlong_command_is_refused_whole(listener: Running) -> None:
    """A04: the tail of a long line is never parsed as a command."""
    client = Client(listener.port)
    client.ehlo()
    assert client.cmd(b"HELO " + b"a" * 600) == "500 5.5.2 Error: command too long"
    tail = b"a" * 100_000 + b" QUIT"
    assert client.cmd(b"MAIL FROM:<" + tail) == "500 5.5.2 Error: command too long"
    assert client.cmd("NOOP") == "250 2.0.0 Ok"


def test_bad_verbs_and_non_smtp(listener: Running) -> None:
    """A06 8-bit / NUL verbs; A22 HTTP on the SMTP port → 221 2.7.0 and close."""
    client = Client(listener.port)
    assert client.cmd(b"\xffHELO x") == "500 5.5.2 Error: bad syntax"
    assert client.cmd(b"HEL\x00O x") == "500 5.5.2 Error: bad syntax"
    assert client.cmd("GET / HTTP/1.1") == "221 2.7.0 Error: I can break rules, too. Goodbye."
    assert client.is_closed()
    header = Client(listener.port)
    assert header.cmd("Subject: hi") == "221 2.7.0 Error: I can break rules, too. Goodbye."


def test_junk_commands_become_errors(make_listener) -> None:  # type: ignore[no-untyped-def]
    """B07: past the junk limit each NOOP/RSET/VRFY counts as an error."""
    server: Running = make_listener(junk_command_limit=5, hard_error_limit=3)
    client = Client(server.port)
    replies = [client.cmd("NOOP") for _ in range(9)]
    assert replies[:8] == ["250 2.0.0 Ok"] * 8
    assert replies[8] == TOO_MANY_ERRORS


def test_idle_client_gets_421_timeout(make_listener) -> None:  # type: ignore[no-untyped-def]
    """B01: 421 4.4.2 instead of aiosmtpd's silent close."""
    server: Running = make_listener(timeout=0.5)
    client = Client(server.port)
    started = time.monotonic()
    assert client.reply() == TIMEOUT
    assert 0.4 < time.monotonic() - started < 2
    assert client.is_closed()


def test_trickled_command_does_not_extend_the_deadline(make_listener) -> None:  # type: ignore[no-untyped-def]
    """B02 slowloris and A05 endless line: bytes without a newline never reset the timer."""
    server: Running = make_listener(timeout=0.6)
    client = Client(server.port)
    started = time.monotonic()
    with pytest.raises(OSError):
        for byte in b"EHLO slowly.example.com" + b"x" * 100:
            client.send(bytes([byte]))
            time.sleep(0.05)
    assert time.monotonic() - started < 3
    assert TIMEOUT.encode() in client.buffer + client.sock.recv(1000)


def test_slow_drip_data_is_cut_by_the_min_rate(
    make_listener,
    real_redis: redis.Redis,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    """B04: each byte buys 1/rate seconds; a drip cannot hold the session open. The 421 names
    the message it cut off, as the session's end line does."""
    caplog.set_level(logging.INFO, logger="mailbus.listener")
    server: Running = make_listener(timeout=1.0, min_data_rate=1000)
    client = Client(server.port)
    client.ehlo()
    client.cmd("MAIL FROM:<a@b.test>")
    client.cmd("RCPT TO:<u@example.com>")
    client.cmd("DATA")
    started = time.monotonic()
    with pytest.raises(OSError):
        for _ in range(100):
            client.send(b"x")
            time.sleep(0.1)
    assert time.monotonic() - started < 3
    message_id = logged_id(caplog, client, "session.end")
    assert client.buffer + client.sock.recv(1000) == f"{TIMEOUT} (id={message_id})\r\n".encode()
    assert stored(real_redis)["raw"] == 0


def test_honest_slow_upload_above_the_min_rate_completes(
    make_listener,
    real_redis: redis.Redis,  # type: ignore[no-untyped-def]
) -> None:
    """B03: a 2.5 s upload with a 1 s timeout, because it keeps above the minimum rate."""
    server: Running = make_listener(timeout=1.0, min_data_rate=100)
    client = Client(server.port)
    client.ehlo()
    client.cmd("MAIL FROM:<a@b.test>")
    client.cmd("RCPT TO:<u@example.com>")
    client.cmd("DATA")
    for _ in range(10):
        client.send(b"y" * 78 + b"\r\n")
        time.sleep(0.25)
    client.send(b".\r\n")
    assert client.reply().startswith("250 2.0.0")


def test_connections_per_ip_and_in_total(make_listener) -> None:  # type: ignore[no-untyped-def]
    """B05/B06b: the excess gets 421 4.7.0 at once; existing sessions go on; slots come back."""
    server: Running = make_listener(max_connections_per_ip=2, max_connections=3)
    first, second = Client(server.port), Client(server.port)
    refused = Client(server.port, greet=False)
    assert refused.reply() == f"421 4.7.0 {HOST} Error: too many connections from 127.0.0.1"
    assert refused.is_closed()
    assert first.cmd("NOOP") == "250 2.0.0 Ok"
    first.cmd("QUIT")
    assert wait_for(lambda: server.listener.ctx.limits.total == 1)  # the slot came back
    assert Client(server.port).cmd("NOOP") == "250 2.0.0 Ok"
    assert server.counters["per_ip"] == 1
    second.close()


def test_ipv6_clients_are_counted_per_64() -> None:
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert client_key("2001:db8:0:1::1") != client_key("2001:db8::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"


def test_pipelining_only_after_ehlo(listener: Running) -> None:
    """RFC 2920: no groups before EHLO advertised PIPELINING; MAIL+RCPT fine after it."""
    client = Client(listener.port)
    client.send(b"HELO c\r\nMAIL FROM:<a@b.test>\r\n")
    assert client.reply() == "554 5.5.0 Error: SMTP protocol synchronization"
    assert client.is_closed()
    good = Client(listener.port)
    good.ehlo()
    good.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.com>\r\nRCPT TO:<v@example.com>\r\n")
    assert [good.reply() for _ in range(3)] == ["250 2.1.0 Ok"] + ["250 2.1.5 Ok"] * 2


def test_early_talker_is_dropped(make_listener) -> None:  # type: ignore[no-untyped-def]
    """A10 (drop action) with a greet wait: 220- teaser, then 521 5.5.1 for pregreet bytes."""
    server: Running = make_listener(greet_wait=0.3)
    with socket.create_connection(("127.0.0.1", server.port)) as talker:
        talker.sendall(b"EHLO early\r\nMAIL FROM:<a@b.test>\r\n")
        time.sleep(0.6)
        data = talker.recv(1000)
    assert data == f"220-{HOST} ESMTP mailbus\r\n521 5.5.1 Protocol error\r\n".encode()
    patient = Client(server.port, greet=False)
    assert patient.lines() == [f"220-{HOST} ESMTP mailbus", f"220 {HOST} ESMTP mailbus"]


def test_early_talker_enforce_refuses_every_recipient(make_listener, real_redis) -> None:  # type: ignore[no-untyped-def]
    """A10 (enforce action): the session goes on, but every RCPT gets 550 5.5.1."""
    server: Running = make_listener(greet_wait=0.3, greet_action="enforce")
    talker = Client(server.port, greet=False)
    talker.send(b"EHLO early\r\n")  # before the greeting
    assert talker.lines() == [f"220-{HOST} ESMTP mailbus", f"220 {HOST} ESMTP mailbus"]
    assert talker.lines()[0].startswith("250-")
    assert talker.cmd("MAIL FROM:<a@b.test>") == "250 2.1.0 Ok"
    assert talker.cmd("RCPT TO:<u@example.com>") == "550 5.5.1 Protocol error"
    assert talker.cmd("RCPT TO:<v@example.com>") == "550 5.5.1 Protocol error"
    assert talker.cmd("DATA") == "554 5.5.1 Error: no valid recipients"
    assert stored(real_redis) == {"raw": 0, "jobs": 0, "status": 0}
    assert server.counters["pregreet"] == 1
    patient = Client(server.port, greet=False)
    assert patient.lines()[-1] == f"220 {HOST} ESMTP mailbus"
    patient.ehlo()
    assert patient.message(b"Subject: hi\r\n\r\nhello\r\n.\r\n").startswith("250 2.0.0")


def test_early_talker_ignore_only_logs(make_listener) -> None:  # type: ignore[no-untyped-def]
    """A10 (ignore action, Postfix's default): logged and counted, served as usual."""
    server: Running = make_listener(greet_wait=0.3, greet_action="ignore")
    talker = Client(server.port, greet=False)
    talker.send(b"EHLO early\r\n")
    assert talker.lines()[-1] == f"220 {HOST} ESMTP mailbus"
    talker.lines()
    assert talker.cmd("MAIL FROM:<a@b.test>") == "250 2.1.0 Ok"
    assert talker.cmd("RCPT TO:<u@example.com>") == "250 2.1.5 Ok"
    assert server.counters["pregreet"] == 1


def test_bare_lf_commands(make_listener) -> None:  # type: ignore[no-untyped-def]
    """A01: accepted (and noted) by default; reject mode → 550 5.5.2 and close."""
    lenient: Running = make_listener()
    client = Client(lenient.port)
    client.send(b"EHLO x\n")
    assert client.reply() == "250 ENHANCEDSTATUSCODES"
    assert client.cmd(b"NOOP") == "250 2.0.0 Ok"
    strict: Running = make_listener(bare_lf="reject")
    client = Client(strict.port)
    client.send(b"EHLO x\n")
    assert client.reply() == "550 5.5.2 Error: bare <LF> received"
    assert client.is_closed()


def test_bare_cr_does_not_split_a_command(listener: Running) -> None:
    """A02: one line, one (bad) command; the MAIL after the CR never runs."""
    client = Client(listener.port)
    client.ehlo()
    assert client.cmd(b"RSET\rMAIL FROM:<a@b.test>") == "500 5.5.2 Error: bad syntax"
    assert client.cmd("RCPT TO:<u@example.com>").startswith("503 5.5.1")
