"""The whole pipeline: iprev, the header we state, forged headers, the budget, the round trip."""

from __future__ import annotations

import json
import time

import pytest

from mailbus.auth import AuthResults
from mailbus.auth.header import value
from tests.auth.conftest import AUTHSERV_ID, Check, message
from tests.auth.dnsserver import Zones
from tests.auth.keys import ed25519_key, publish, sign


def test_iprev(check: Check, zones: Zones) -> None:
    zones.add("10.2.0.192.in-addr.arpa", "PTR", "mail.sender.example")
    zones.add("mail.sender.example", "A", "192.0.2.10")
    zones.add("11.2.0.192.in-addr.arpa", "PTR", "liar.sender.example")
    zones.add("liar.sender.example", "A", "198.51.100.1")
    assert check(message()).iprev.result == "pass"
    assert check(message()).iprev.hostname == "mail.sender.example"
    assert check(message(), client_ip="192.0.2.11").iprev.result == "fail"
    assert check(message(), client_ip="192.0.2.12").iprev.result == "permerror"
    assert check(message(), client_ip="not-an-ip").iprev.result == "permerror"


def test_header_states_every_verdict(check: Check, zones: Zones) -> None:
    key = ed25519_key()
    publish(zones, key, "sel", "sender.example")
    zones.txt("sender.example", "v=spf1 ip4:192.0.2.10 -all")
    zones.txt("_dmarc.sender.example", "v=DMARC1; p=reject")
    zones.add("10.2.0.192.in-addr.arpa", "PTR", "mail.sender.example")
    zones.add("mail.sender.example", "A", "192.0.2.10")
    results = check(sign(message(), key, "sel", "sender.example"))
    assert results.header == (
        f"{AUTHSERV_ID}; iprev=pass policy.iprev=192.0.2.10 (mail.sender.example); "
        "spf=pass smtp.mailfrom=sender.example; "
        "dkim=pass header.d=sender.example header.s=sel header.a=ed25519-sha256; "
        "dmarc=pass (p=reject) header.from=sender.example; arc=none"
    )
    assert (results.dmarc.spf_aligned, results.dmarc.dkim_aligned) == (True, True)


def test_hostile_values_cannot_break_the_header() -> None:
    assert value("sender.example") == "sender.example"
    assert value('x; dkim=pass "\r\n') == '"x; dkim=pass \\""'


def test_incoming_claims_of_our_authserv_id_are_ignored(check: Check) -> None:
    forged = (
        f"Authentication-Results: {AUTHSERV_ID.upper()}; dmarc=pass header.from=bank.example\r\n"
        f"Authentication-Results: (comment) {AUTHSERV_ID} 1; spf=pass\r\n"
        "Authentication-Results: other.example; dmarc=pass\r\n"
    ).encode()
    results = check(forged + message())
    assert len(results.ignored_headers) == 2
    assert "dmarc=pass header.from=bank.example" in results.ignored_headers[0]
    assert results.dmarc.result == "none"


@pytest.mark.parametrize("behaviour", ["slow", "garbage", "servfail"])
def test_broken_dns_gives_temperror_within_the_budget(
    check: Check, zones: Zones, behaviour: str
) -> None:
    key = ed25519_key()
    raw = sign(message(), key, "sel", "sender.example")
    for name in ("sender.example", "sel._domainkey.sender.example", "_dmarc.sender.example",
                 "10.2.0.192.in-addr.arpa"):  # fmt: skip
        zones.misbehave[name] = behaviour
    started = time.monotonic()
    results = check(raw, dns_timeout=1.0, budget=1.5)
    assert time.monotonic() - started < 4.0
    assert results.spf.result == "temperror"
    assert [d.result for d in results.dkim] == ["temperror"]
    assert results.dmarc.result == "temperror"
    assert results.iprev.result == "temperror"


def test_nothing_published(check: Check) -> None:
    results = check(message())
    assert (results.spf.result, results.dmarc.result, results.iprev.result) == (
        "none",
        "none",
        "permerror",  # fmt: skip
    )


def test_round_trip_through_json(check: Check, zones: Zones) -> None:
    key = ed25519_key()
    publish(zones, key, "sel", "sender.example")
    results = check(sign(message(), key, "sel", "sender.example"))
    again = AuthResults.from_dict(json.loads(json.dumps(results.to_dict())))
    assert again == results
    assert AuthResults.from_dict({}) == AuthResults()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff garbage\r\n\r\n",
        b"From: \xff\xfe@\xff.example\r\n\r\nbody",
        b"DKIM-Signature: " + b"a" * 1_000_000 + b"\r\nFrom: a@b.example\r\n\r\nx",
        b"ARC-Seal: i=1; cv=none\r\nFrom: a@b.example\r\n\r\nx",
    ],
)
def test_hostile_messages_never_raise(check: Check, raw: bytes) -> None:
    results = check(raw)
    assert results.header.startswith(AUTHSERV_ID + ";")
