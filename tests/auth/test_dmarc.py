"""DMARC over real DNS: alignment modes, the policy that applies, no record, several From."""

from __future__ import annotations

import pytest

from mailbus.auth.dmarc import org_domain, parse_record
from tests.auth.conftest import Check, message
from tests.auth.dnsserver import Zones
from tests.auth.keys import Key, publish, rsa_key, sign


@pytest.fixture(scope="module")
def key() -> Key:
    return rsa_key()


def test_org_domain_uses_the_public_suffix_list() -> None:
    assert org_domain("a.b.example.co.uk") == "example.co.uk"
    assert org_domain("mail.example.com") == "example.com"


def test_parse_record() -> None:
    assert parse_record("v=DMARC1; p=reject; sp=none; adkim=s")["sp"] == "none"  # type: ignore[index]
    assert parse_record("v=spf1 -all") is None


@pytest.mark.parametrize(
    ("aspf", "from_domain", "expected"),
    [
        ("r", "example.org", "pass"),  # bounce.example.org is aligned with example.org (relaxed)
        ("s", "example.org", "fail"),  # ...but not strictly
        ("s", "bounce.example.org", "pass"),
    ],
)
def test_spf_alignment(
    check: Check, zones: Zones, aspf: str, from_domain: str, expected: str
) -> None:
    zones.txt("bounce.example.org", "v=spf1 ip4:192.0.2.10 -all")
    zones.txt("_dmarc.example.org", f"v=DMARC1; p=reject; aspf={aspf}")
    zones.add(from_domain, "A", "192.0.2.99")
    result = check(message(from_=f"a@{from_domain}"), mail_from="x@bounce.example.org").dmarc
    assert (result.result, result.spf_aligned, result.domain) == (
        expected,
        expected == "pass",
        from_domain,  # fmt: skip
    )
    assert result.org_domain == "example.org"


@pytest.mark.parametrize(("adkim", "expected"), [("r", "pass"), ("s", "fail")])
def test_dkim_alignment(check: Check, zones: Zones, key: Key, adkim: str, expected: str) -> None:
    publish(zones, key, "sel", "mail.example.org")
    zones.txt("_dmarc.example.org", f"v=DMARC1; p=quarantine; adkim={adkim}")
    raw = sign(message(from_="a@example.org"), key, "sel", "mail.example.org")
    result = check(raw, mail_from="x@elsewhere.example").dmarc
    assert (result.result, result.dkim_aligned, result.policy) == (
        expected,
        expected == "pass",
        "quarantine",  # fmt: skip
    )


def test_subdomain_policy_and_np(check: Check, zones: Zones) -> None:
    zones.txt("_dmarc.example.org", "v=DMARC1; p=reject; sp=quarantine; np=none")
    zones.add("exists.example.org", "MX", (10, "mx.example.org"))
    assert check(message(from_="a@example.org")).dmarc.policy == "reject"
    assert check(message(from_="a@exists.example.org")).dmarc.policy == "quarantine"
    gone = check(message(from_="a@gone.example.org")).dmarc
    assert (gone.result, gone.policy) == ("fail", "none")


def test_record_at_the_from_domain_wins(check: Check, zones: Zones) -> None:
    zones.txt("_dmarc.example.org", "v=DMARC1; p=reject")
    zones.txt("_dmarc.news.example.org", "v=DMARC1; p=none")
    assert check(message(from_="a@news.example.org")).dmarc.policy == "none"


def test_no_record_is_none(check: Check, zones: Zones) -> None:
    zones.txt("example.org", "v=spf1 -all")
    result = check(message(from_="a@example.org")).dmarc
    assert (result.result, result.policy) == ("none", "")


def test_several_records_is_no_policy(check: Check, zones: Zones) -> None:
    zones.txt("_dmarc.example.org", "v=DMARC1; p=reject", "v=DMARC1; p=none")
    assert check(message(from_="a@example.org")).dmarc.result == "none"


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@example.org\r\nFrom: b@example.net\r\nSubject: x\r\n\r\nbody\r\n",
        b"From: a@example.org, b@example.net\r\nSubject: x\r\n\r\nbody\r\n",
        b"Subject: no from\r\n\r\nbody\r\n",
    ],
)
def test_several_or_no_from_domains_is_permerror(check: Check, raw: bytes) -> None:
    assert check(raw).dmarc.result == "permerror"


def test_record_lookup_timeout_is_temperror(check: Check, zones: Zones) -> None:
    zones.misbehave["_dmarc.example.org"] = "slow"
    assert check(message(from_="a@example.org"), dns_timeout=0.3).dmarc.result == "temperror"
