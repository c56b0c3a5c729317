"""Issue 3 item 4: envelope validation — lengths, controls, UTF-8, relay tricks, literals.

Case ids (A01, B14, …) in the docstrings point into docs/threat-model.md.
"""

from __future__ import annotations

import pytest
import redis

from tests.listener.conftest import Client, Running, stored

RELAY = "550 5.7.1 <{}>: Relay access denied"


@pytest.fixture
def session(listener: Running) -> Client:
    client = Client(listener.port)
    client.ehlo()
    return client


def test_non_ascii_needs_smtputf8(session: Client) -> None:
    """A07 without SMTPUTF8; accepted with it (and recorded for the worker)."""
    assert session.cmd("MAIL FROM:<é@example.net>".encode()) == (
        "553 5.6.7 Must declare SMTPUTF8 to send unicode address"
    )
    assert session.cmd("MAIL FROM:<é@example.net> SMTPUTF8".encode()) == "250 2.1.0 Ok"
    assert session.cmd("RCPT TO:<josé@example.com>".encode()) == "250 2.1.5 Ok"
    assert session.cmd("RCPT TO:<u@exämple.com>".encode()).startswith("550 5.7.1")


def test_invalid_utf8_is_refused(session: Client) -> None:
    """A08: never stored as surrogates."""
    assert session.cmd(b"MAIL FROM:<\xff\xfe@example.com> SMTPUTF8") == (
        "500 5.5.2 Error: bad UTF-8 syntax"
    )
    assert session.cmd(b"MAIL FROM:<a@b.test> SMTPUTF8") == "250 2.1.0 Ok"
    assert session.cmd(b"RCPT TO:<\xed\xa0\x80@example.com>") == "500 5.5.2 Error: bad UTF-8 syntax"
    assert session.cmd(b"EHLO \xff\xfe") == "500 5.5.2 Error: bad UTF-8 syntax"


def test_nul_and_controls_in_addresses(session: Client) -> None:
    """A09: no NUL ever reaches Redis keys, logs or handlers."""
    assert session.cmd(b"MAIL FROM:<a\x00b@example.com>") == "501 5.1.7 Bad sender address syntax"
    assert session.cmd(b"MAIL FROM:<a@b.test>") == "250 2.1.0 Ok"
    bad = "501 5.1.3 Bad recipient address syntax"
    assert session.cmd(b"RCPT TO:<u@example.com\x00evil>") == bad
    assert session.cmd(b"RCPT TO:<u\x01@example.com>") == bad


def test_null_path_only_as_sender(session: Client) -> None:
    """A17."""
    assert session.cmd("MAIL FROM:<>") == "250 2.1.0 Ok"
    assert session.cmd("RCPT TO:<>") == "501 5.1.3 Bad recipient address syntax"


def test_rfc5321_lengths(session: Client) -> None:
    """Local part 64, domain 255 / label 63, path 256 (RFC 5321 §4.5.3.1)."""
    session.cmd("MAIL FROM:<a@b.test>")
    assert session.cmd(f"RCPT TO:<{'l' * 64}@example.com>") == "250 2.1.5 Ok"
    assert session.cmd(f"RCPT TO:<{'l' * 65}@example.com>") == (
        "501 5.1.3 Bad recipient address syntax"
    )
    assert session.cmd(f"RCPT TO:<u@{'d' * 64}.example.com>").startswith("501 5.1.3")
    long_domain = ".".join(["d" * 60] * 4) + ".example.org"
    assert session.cmd(f"RCPT TO:<u@{long_domain}>").startswith("501 5.1.3")


@pytest.mark.parametrize(
    "address",
    [
        "user%victim.org@example.com",
        "victim.org!user@example.com",
        '"user@victim.org"@example.com',
        "user@[192.0.2.1]",
        "user@[IPv6:2001:db8::1]",
    ],
)
def test_relay_tricks_are_refused(session: Client, address: str, real_redis: redis.Redis) -> None:
    """E02: %-hack, bang path, quoted @, address literals — never re-routed."""
    session.cmd("MAIL FROM:<a@b.test>")
    assert session.cmd(f"RCPT TO:<{address}>") == RELAY.format(address)
    assert stored(real_redis)["raw"] == 0


def test_source_route_goes_to_the_final_hop(session: Client) -> None:
    """E02 / RFC 5321 App. C: the route is ignored, the final address judged."""
    session.cmd("MAIL FROM:<a@b.test>")
    assert session.cmd("RCPT TO:<@relay.evil,@r2.evil:user@example.com>") == "250 2.1.5 Ok"
    assert session.cmd("RCPT TO:<@ours.example.com:user@evil.test>").startswith("550 5.7.1")


def test_address_literals_when_allowed(make_listener) -> None:  # type: ignore[no-untyped-def]
    server: Running = make_listener(allow_address_literals=True)
    client = Client(server.port)
    client.ehlo()
    client.cmd("MAIL FROM:<a@b.test>")
    assert client.cmd("RCPT TO:<user@[192.0.2.1]>") == "250 2.1.5 Ok"
    assert client.cmd("RCPT TO:<user@[999.1.1.1]>").startswith("501 5.1.3")


def test_helo_is_recorded_not_trusted(session: Client, real_redis: redis.Redis) -> None:
    """A13: odd HELO names are accepted and end up escaped in the trace header only."""
    assert session.cmd("EHLO [999.1.1.1]") == "250 ENHANCEDSTATUSCODES"
    assert session.cmd(b"EHLO x\x1b[2J") == "501 5.5.4 Syntax: EHLO hostname"


def test_internationalised_domains_are_served_in_either_form(make_listener) -> None:  # type: ignore[no-untyped-def]
    """Served domains and recipients compare in one canonical form: UTS-46 (IDNA 2008), so
    `straße` is `xn--strae-oqa`, what current MTAs send, not IDNA 2003's `strasse`."""
    server: Running = make_listener(domains=("bücher.example", "*.straße.example"))
    client = Client(server.port)
    client.ehlo()
    assert client.cmd("MAIL FROM:<a@b.test> SMTPUTF8") == "250 2.1.0 Ok"
    for rcpt in ("info@xn--bcher-kva.example", "info@BÜCHER.example", "x@mx.xn--strae-oqa.example",
                 "x@mx.straße.example"):  # fmt: skip
        assert client.cmd(f"RCPT TO:<{rcpt}>".encode()) == "250 2.1.5 Ok", rcpt
    assert client.cmd("RCPT TO:<x@mx.strasse.example>").startswith("550 5.7.1")
