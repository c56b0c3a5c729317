"""DKIM against a real DNS server: fresh RSA and ed25519 keys, and each way a signature fails."""

from __future__ import annotations

import pytest

from tests.auth.conftest import Check, message
from tests.auth.dnsserver import Zones
from tests.auth.keys import Key, ed25519_key, publish, rsa_key, sign, sign_expired


@pytest.fixture(scope="module")
def rsa() -> Key:
    return rsa_key()


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_fresh_keys_pass(check: Check, zones: Zones, rsa: Key, algorithm: str) -> None:
    key = rsa if algorithm == "rsa" else ed25519_key()
    publish(zones, key, "sel", "sender.example")
    result = check(sign(message(), key, "sel", "sender.example")).dkim
    assert [(d.result, d.domain, d.selector, d.algorithm) for d in result] == [
        ("pass", "sender.example", "sel", key.algorithm.decode())
    ]


def test_no_signature_is_an_empty_list(check: Check) -> None:
    assert check(message()).dkim == []


def test_changed_body_byte_fails(check: Check, zones: Zones, rsa: Key) -> None:
    publish(zones, rsa, "sel", "sender.example")
    signed = sign(message(), rsa, "sel", "sender.example")
    [result] = check(signed.replace(b"Hi there.", b"Hi there!")).dkim
    assert (result.result, result.reason) == ("fail", "body hash did not verify")


def test_changed_signed_header_fails(check: Check, zones: Zones, rsa: Key) -> None:
    publish(zones, rsa, "sel", "sender.example")
    signed = sign(message(), rsa, "sel", "sender.example")
    [result] = check(signed.replace(b"Subject: Hello", b"Subject: Pay now")).dkim
    assert (result.result, result.reason) == ("fail", "signature did not verify")


def test_revoked_key_fails(check: Check, zones: Zones, rsa: Key) -> None:
    zones.txt("sel._domainkey.sender.example", "v=DKIM1; k=rsa; p=")
    [result] = check(sign(message(), rsa, "sel", "sender.example")).dkim
    assert (result.result, result.reason) == ("fail", "key revoked")


def test_expired_signature_fails(check: Check, zones: Zones, rsa: Key) -> None:
    publish(zones, rsa, "sel", "sender.example")
    signed = sign_expired(message(), rsa, "sel", "sender.example", ago=86_400)
    [result] = check(signed).dkim
    assert (result.result, result.reason) == ("fail", "signature expired")


def test_missing_key_is_permerror(check: Check, rsa: Key) -> None:
    [result] = check(sign(message(), rsa, "gone", "sender.example")).dkim
    assert result.result == "permerror"


def test_key_lookup_timeout_is_temperror(check: Check, zones: Zones, rsa: Key) -> None:
    zones.misbehave["sel._domainkey.sender.example"] = "slow"
    [result] = check(sign(message(), rsa, "sel", "sender.example"), dns_timeout=0.3).dkim
    assert result.result == "temperror"


def test_l_past_the_body_is_permerror(check: Check, zones: Zones, rsa: Key) -> None:
    publish(zones, rsa, "sel", "sender.example")
    signed = sign(message(), rsa, "sel", "sender.example", length=True)
    [result] = check(signed.replace(b"Hi there.\r\n", b"Hi")).dkim
    assert result.result == "permerror"


@pytest.mark.parametrize(
    "signature",
    [
        b"v=1; a=rsa-sha256; d=sender.example; s=sel; h=from; bh=!!!; b=@@@",  # bad base64
        b"v=1; a=rsa-sha256; d=; s=; h=from; bh=AAAA; b=AAAA",  # empty d= and s=
        b"garbage without tags",
        b"v=1; a=rsa-sha256; d=" + b"x" * 70 + b".example; s=sel; h=from; bh=AAAA; b=AAAA",
        b"v=1; a=rsa-sha256; d=sender.example; s=sel; h=from; bh=AAAA; b=" + b"A" * 1_000_000,
    ],
)
def test_malformed_signatures_are_permerror(check: Check, signature: bytes) -> None:
    [result] = check(b"DKIM-Signature: " + signature + b"\r\n" + message()).dkim
    assert result.result == "permerror"


def test_at_most_ten_signatures_are_evaluated(check: Check) -> None:
    sig = b"DKIM-Signature: v=1; a=rsa-sha256; d=sender.example; s=sel; h=from; bh=AAAA; b=AAAA\r\n"
    results = check(sig * 100 + message())
    assert len(results.dkim) == 10
    assert any("100 signatures" in limit for limit in results.limits_hit)


def test_each_signature_gets_its_own_verdict(check: Check, zones: Zones, rsa: Key) -> None:
    other = ed25519_key()
    publish(zones, rsa, "sel", "sender.example")
    publish(zones, other, "ed", "relay.example")
    signed = sign(sign(message(), rsa, "sel", "sender.example"), other, "ed", "relay.example")
    zones.remove("sel._domainkey.sender.example")
    zones.txt("sel._domainkey.sender.example", "v=DKIM1; k=rsa; p=")
    results = check(signed).dkim
    assert [(d.domain, d.result) for d in results] == [
        ("relay.example", "pass"),
        ("sender.example", "fail"),  # fmt: skip
    ]
