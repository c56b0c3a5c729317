"""SPF through our resolver against a real DNS server: mechanisms, qualifiers, scopes, limits."""

from __future__ import annotations

import pytest

from tests.auth.conftest import Check, message
from tests.auth.dnsserver import Zones

IP = "192.0.2.10"


def spf(check: Check, **kw: object) -> tuple[str, str, str]:
    result = check(message(), **kw).spf
    return result.result, result.domain, result.scope


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("v=spf1 ip4:192.0.2.0/24 -all", "pass"),
        ("v=spf1 ip4:198.51.100.1 -all", "fail"),
        ("v=spf1 ip4:198.51.100.1 ~all", "softfail"),
        ("v=spf1 ip4:198.51.100.1 ?all", "neutral"),
        ("v=spf1 +ip4:198.51.100.1 +all", "pass"),
        ("v=spf1 -ip4:192.0.2.10 +all", "fail"),
        ("v=spf1 ~ip4:192.0.2.10 +all", "softfail"),
        ("v=spf1 ?ip4:192.0.2.10 +all", "neutral"),
        ("v=spf1 a -all", "pass"),
        ("v=spf1 a:other.example -all", "fail"),
        ("v=spf1 mx -all", "pass"),
        ("v=spf1 include:_spf.provider.example -all", "pass"),
        ("v=spf1 redirect=_spf.provider.example", "pass"),
        ("v=spf1 exists:%{i}._ip.sender.example -all", "pass"),
        ("v=spf1 exists:%{l}.%{o}._user.sender.example -all", "pass"),
        ("v=spf1 bogus:thing -all", "permerror"),
        ("v=spf1 include:nothing.example -all", "permerror"),
    ],
)
def test_mechanisms_and_qualifiers(check: Check, zones: Zones, record: str, expected: str) -> None:
    zones.txt("sender.example", record)
    zones.add("sender.example", "A", IP).add("other.example", "A", "198.51.100.7")
    zones.add("sender.example", "MX", (10, "mx.sender.example")).add("mx.sender.example", "A", IP)
    zones.txt("_spf.provider.example", "v=spf1 ip4:192.0.2.0/28 -all")
    zones.add("192.0.2.10._ip.sender.example", "A", "127.0.0.2")
    zones.add("alice.sender.example._user.sender.example", "A", "127.0.0.2")
    assert spf(check) == (expected, "sender.example", "mailfrom")


def test_ip6(check: Check, zones: Zones) -> None:
    zones.txt("sender.example", "v=spf1 ip6:2001:db8::/32 -all")
    assert spf(check, client_ip="2001:db8::10")[0] == "pass"
    assert spf(check, client_ip="2001:db9::10")[0] == "fail"


def test_no_record_is_none(check: Check, zones: Zones) -> None:
    zones.txt("sender.example", "not spf")
    assert spf(check)[0] == "none"


def test_null_sender_checks_helo(check: Check, zones: Zones) -> None:
    zones.txt("mail.sender.example", "v=spf1 ip4:192.0.2.10 -all")
    assert spf(check, mail_from="") == ("pass", "mail.sender.example", "helo")


def test_more_than_ten_lookups_is_permerror(check: Check, zones: Zones) -> None:
    names = [f"n{i}.sender.example" for i in range(11)]
    zones.txt(
        "sender.example", "v=spf1 " + " ".join(f"a:{n}" for n in names) + " ip4:192.0.2.10 -all"
    )
    for name in names:
        zones.add(name, "A", "198.51.100.1")
    assert spf(check)[0] == "permerror"


def test_more_than_two_void_lookups_is_permerror(check: Check, zones: Zones) -> None:
    zones.txt("sender.example", "v=spf1 a:v1.example a:v2.example a:v3.example ip4:192.0.2.10 -all")
    assert spf(check)[0] == "permerror"


def test_include_loop_is_permerror(check: Check, zones: Zones) -> None:
    zones.txt("sender.example", "v=spf1 include:loop.sender.example -all")
    zones.txt("loop.sender.example", "v=spf1 include:sender.example -all")
    assert spf(check)[0] == "permerror"


def test_two_records_is_permerror(check: Check, zones: Zones) -> None:
    zones.txt("sender.example", "v=spf1 -all", "v=spf1 +all")
    assert spf(check)[0] == "permerror"


def test_dns_timeout_is_temperror(check: Check, zones: Zones) -> None:
    zones.misbehave["sender.example"] = "slow"
    assert spf(check, dns_timeout=0.3)[0] == "temperror"


def test_ptr_name_whose_address_lookup_fails_is_skipped(check: Check, zones: Zones) -> None:
    """RFC 7208 §5.5: pyspf alone answers temperror here."""
    zones.txt("sender.example", "v=spf1 ptr -all")
    zones.add("10.2.0.192.in-addr.arpa", "PTR", "broken.sender.example", "mail.sender.example")
    zones.misbehave["broken.sender.example"] = "servfail"
    zones.add("mail.sender.example", "A", IP)
    assert spf(check)[0] == "pass"


@pytest.mark.parametrize("domain", ["a..example", "x" * 64 + ".example"])
def test_invalid_domains_are_none_without_a_query(check: Check, zones: Zones, domain: str) -> None:
    results = check(message(from_=f"alice@{domain}"), mail_from=f"alice@{domain}")
    assert (results.spf.result, results.dmarc.result) == ("none", "none")
    assert not [q for q in zones.queries if q[1] == "TXT"]


def test_non_ascii_and_huge_records(check: Check, zones: Zones) -> None:
    zones.txt("sender.example", "v=spf1 ip4:192.0.2.10 exp=é -all".encode())
    assert spf(check)[0] in ("pass", "permerror")
    zones.remove("sender.example")
    zones.txt(
        "sender.example",
        ["v=spf1 " + "ip4:198.51.100.1 " * 12, "ip4:198.51.100.2 " * 12, "ip4:192.0.2.10 -all"],
    )
    assert spf(check)[0] == "pass"
