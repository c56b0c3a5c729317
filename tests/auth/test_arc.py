"""ARC chains sealed in the test, verified through our resolver against a real DNS server."""

from __future__ import annotations

import re

import pytest

from tests.auth.conftest import Check, message
from tests.auth.dnsserver import Zones
from tests.auth.keys import Key, arc_seal, publish, rsa_key


@pytest.fixture(scope="module")
def key() -> Key:
    return rsa_key()


def chain(zones: Zones, key: Key, hops: int) -> bytes:
    raw = message()
    for hop in range(1, hops + 1):
        domain = f"hop{hop}.example"
        publish(zones, key, "arc", domain)
        raw = arc_seal(raw, key, "arc", domain, domain, "none" if hop == 1 else "pass")
    return raw


def test_no_arc_headers_is_none(check: Check) -> None:
    result = check(message()).arc
    assert (result.result, result.chain_length) == ("none", 0)


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_sealed_chains_pass(check: Check, zones: Zones, key: Key, hops: int) -> None:
    result = check(chain(zones, key, hops)).arc
    assert (result.result, result.chain_length, result.reason) == ("pass", hops, "")


def test_tampered_seal_fails(check: Check, zones: Zones, key: Key) -> None:
    raw = chain(zones, key, 2)
    tampered = raw.replace(b"i=1; hop1.example;\r\n arc=none", b"i=1; hop1.example;\r\n arc=pass")
    assert tampered != raw
    result = check(tampered).arc
    assert (result.result, result.chain_length) == ("fail", 2)


def test_body_changed_after_the_last_hop_fails(check: Check, zones: Zones, key: Key) -> None:
    raw = chain(zones, key, 3)
    result = check(raw.replace(b"Hi there.", b"Hi there!")).arc
    assert result.result == "fail"


def test_missing_key_fails(check: Check, zones: Zones, key: Key) -> None:
    raw = chain(zones, key, 2)
    zones.remove("arc._domainkey.hop1.example")
    assert check(raw).arc.result == "fail"


@pytest.mark.parametrize("tag", [b"d", b"s"])
@pytest.mark.parametrize("value", [b"", b"bad..name", b"x" * 70])
def test_empty_or_invalid_d_and_s_fail_instead_of_raising(
    check: Check, zones: Zones, key: Key, tag: bytes, value: bytes
) -> None:
    """dkimpy's own ARC.verify raises here; RFC 8617 says the chain fails."""
    raw = chain(zones, key, 1)
    broken = re.sub(rb"(ARC-Seal:[^\r]*?\b" + tag + rb"=)[^;]*", lambda m: m.group(1) + value, raw)
    assert broken != raw
    result = check(broken).arc
    assert (result.result, result.chain_length) == ("fail", 1)


def test_signature_dkimpy_cannot_find_fails_instead_of_raising(
    check: Check, zones: Zones, key: Key
) -> None:
    """dkimpy looks its own AMS up by ' i=N;' and raises IndexError when it is not there."""
    raw = chain(zones, key, 1).replace(
        b"ARC-Message-Signature: i=1;", b"ARC-Message-Signature:i=1;"
    )
    result = check(raw).arc
    assert (result.result, result.chain_length) == ("fail", 1)
    assert "IndexError" in result.reason
