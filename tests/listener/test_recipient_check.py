"""MAILBUS_RECIPIENT_CHECK over real sockets: unknown recipients get 550 5.1.1 at RCPT (a harvest
is cut off by the error limits), a broken check 450, a slow one 451 without stalling the other
sessions, and a check that cannot be loaded stops the listener at start."""

from __future__ import annotations

import asyncio
import time

import pytest

from listener.server import start_server
from mailbus.errors import HandlerLoadError
from tests.listener import checks
from tests.listener.conftest import Client, Running, settings_for, stored, wait_for

NO_MAILBOX = "550 5.1.1 <{}>: Recipient address rejected: no such mailbox"
MSG = b"Subject: hi\r\n\r\nhello\r\n.\r\n"


@pytest.fixture(autouse=True)
def _clear() -> None:
    checks.asked.clear()


def test_router_mode_refuses_addresses_no_route_can_take(make_listener, real_redis) -> None:
    server: Running = make_listener(
        recipient_check="router", handlers="tests.listener.checks:router"
    )
    client = Client(server.port)
    client.ehlo()
    assert client.cmd("MAIL FROM:<a@sender.test>").startswith("250")
    assert client.cmd("RCPT TO:<nobody@example.com>") == NO_MAILBOX.format("nobody@example.com")
    assert client.cmd("RCPT TO:<Support@EXAMPLE.com>") == "250 2.1.5 Ok"
    assert client.cmd("RCPT TO:<reply+7@example.com>") == "250 2.1.5 Ok", "to= alone decides"
    assert client.cmd("DATA").startswith("354")
    client.send(MSG)
    assert client.reply().startswith("250 2.0.0 Ok: queued as")
    assert server.counters["no_mailbox"] == 1


@pytest.mark.parametrize("check", ["check", "async_check"])
def test_function_mode_answers(make_listener, check: str) -> None:
    server: Running = make_listener(
        recipient_check=f"tests.listener.checks:{check}", recipient_check_timeout=1.0
    )
    client = Client(server.port)
    client.ehlo()
    assert client.cmd("MAIL FROM:<a@sender.test>").startswith("250")
    assert client.cmd("RCPT TO:<known@example.com>") == "250 2.1.5 Ok"
    assert client.cmd("RCPT TO:<gone@example.com>") == NO_MAILBOX.format("gone@example.com")
    assert client.cmd("RCPT TO:<unsure@example.com>") == (
        "450 4.2.0 <unsure@example.com>: Recipient address rejected: try again later"
    )
    assert client.cmd("RCPT TO:<broken@example.com>").startswith("450 4.2.0 <broken@")
    started = time.monotonic()
    assert client.cmd("RCPT TO:<slow@example.com>") == (
        "451 4.4.3 <slow@example.com>: Recipient address rejected: check timed out, try again later"
    )
    assert 0.9 < time.monotonic() - started < 3
    assert client.cmd("RCPT TO:<known@example.com>") == "250 2.1.5 Ok"  # cached: not asked
    address, envelope = checks.asked[0]
    assert (address, envelope.mail_from, envelope.helo) == (
        "known@example.com", "a@sender.test", "client.test",
    )  # fmt: skip
    assert [a for a, _ in checks.asked].count("known@example.com") == 1


@pytest.mark.parametrize("check", ["check", "async_check"])
def test_a_check_sleeping_10s_never_stalls_another_client(make_listener, real_redis, check) -> None:
    """The issue's proof: while one session's check sleeps 10 s, another completes a message."""
    server: Running = make_listener(recipient_check=f"tests.listener.checks:{check}")
    slow = Client(server.port, timeout=15)
    slow.ehlo()
    assert slow.cmd("MAIL FROM:<a@sender.test>").startswith("250")
    slow.send(b"RCPT TO:<slow@example.com>\r\n")
    assert wait_for(lambda: any(a == "slow@example.com" for a, _ in checks.asked))
    started = time.monotonic()
    other = Client(server.port)
    other.ehlo()
    reply = other.message(MSG, to="known@example.com")
    assert reply.startswith("250 2.0.0 Ok: queued as"), reply
    assert time.monotonic() - started < 1.5, "the other session waited for the slow check"
    assert slow.reply().startswith("451 4.4.3 <slow@example.com>")
    assert stored(real_redis)["jobs"] == 1


def test_a_directory_harvest_is_cut_off(make_listener) -> None:
    server: Running = make_listener(
        recipient_check="router", handlers="tests.listener.checks:router",
        soft_error_limit=50, hard_error_limit=5,
    )  # fmt: skip
    client = Client(server.port)
    client.ehlo()
    assert client.cmd("MAIL FROM:<a@sender.test>").startswith("250")
    replies = [client.cmd(f"RCPT TO:<guess{n}@example.com>") for n in range(5)]
    assert all(reply.startswith("550 5.1.1") for reply in replies)
    assert client.cmd("RCPT TO:<guess6@example.com>").startswith("421 4.7.0")
    assert client.is_closed()


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"recipient_check": "router", "handlers": "no_such_pkg.mail:router"},
         "'no_such_pkg.mail:router'"),
        ({"recipient_check": "tests.listener.checks:not_a_function"},
         "MAILBUS_RECIPIENT_CHECK='tests.listener.checks:not_a_function'"),
    ],
)  # fmt: skip
def test_a_check_that_cannot_be_loaded_stops_the_listener(redis_server, changes, named) -> None:
    settings = settings_for(redis_server, **changes)
    with pytest.raises(HandlerLoadError) as raised:
        asyncio.run(start_server(settings))
    assert named in str(raised.value)


def test_off_asks_nothing(listener: Running) -> None:
    client = Client(listener.port)
    client.ehlo()
    assert client.message(MSG, to="anyone@example.com").startswith("250 2.0.0")
    assert checks.asked == []
