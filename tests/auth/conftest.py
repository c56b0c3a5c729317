"""Fixtures for mailbus.auth: a real DNS server on loopback and a way to run the checks on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from mailbus.auth import AuthResults, authenticate
from mailbus.auth.resolver import DnsCache
from tests.auth.dnsserver import TestDnsServer, Zones

AUTHSERV_ID = "mx.mailbus.test"


@pytest.fixture
def zones() -> Zones:
    return Zones()


@pytest.fixture
def dns(zones: Zones) -> Iterator[TestDnsServer]:
    server = TestDnsServer(zones)
    server.start()
    yield server
    server.stop()


Check = Callable[..., AuthResults]


@pytest.fixture
def check(dns: TestDnsServer) -> Check:
    """`authenticate` against the test server, with a fresh cache so no test sees another's."""

    def run(raw: bytes, **kw: object) -> AuthResults:
        options: dict[str, object] = {
            "client_ip": "192.0.2.10",
            "helo": "mail.sender.example",
            "mail_from": "alice@sender.example",
            "dns_servers": [dns.address],
            "authserv_id": AUTHSERV_ID,
            "dns_timeout": 1.0,
            "budget": 5.0,
            "cache": DnsCache(),
        }
        options.update(kw)
        return authenticate(raw, **options)  # type: ignore[arg-type]

    return run


def message(
    from_: str = "Alice <alice@sender.example>", subject: str = "Hello", body: str = "Hi there.\r\n"
) -> bytes:
    return (
        f"From: {from_}\r\nTo: bob@mailbus.test\r\nSubject: {subject}\r\n"
        f"Date: Wed, 02 Dec 2026 05:00:00 +0000\r\nMessage-ID: <1@sender.example>\r\n\r\n{body}"
    ).encode()
