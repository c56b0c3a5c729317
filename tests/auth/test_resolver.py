"""The owned resolver against a real DNS server: answers, TCP fallback, cache, failures, budget."""

from __future__ import annotations

import time

import pytest

from mailbus.auth.resolver import NODATA, NXDOMAIN, OK, Budget, DnsCache, DnsTempError, Resolver
from tests.auth.dnsserver import TestDnsServer, Zones


def resolver(dns: TestDnsServer, **kw: object) -> Resolver:
    return Resolver([dns.address], timeout=kw.pop("timeout", 1.0), cache=DnsCache(), **kw)  # type: ignore[arg-type]


def test_answers_nxdomain_and_nodata(dns: TestDnsServer, zones: Zones) -> None:
    zones.add("host.example", "A", "192.0.2.1").txt("host.example", "hello")
    r = resolver(dns)
    assert r.query("host.example", "A", Budget(5)) == (
        ans := r.query("HOST.example.", "A", Budget(5))
    )
    assert ans.status == OK and ans.records == ("192.0.2.1",)
    assert r.query("host.example", "MX", Budget(5)).status == NODATA
    assert r.query("nothing.example", "TXT", Budget(5)).status == NXDOMAIN


def test_huge_split_txt_comes_over_tcp(dns: TestDnsServer, zones: Zones) -> None:
    parts = [("x" * 250) + str(i) for i in range(16)]  # ~4 KB: truncated over UDP
    zones.txt("big.example", parts)
    answer = resolver(dns).query("big.example", "TXT", Budget(5))
    assert answer.records == (tuple(p.encode() for p in parts),)


def test_cache_honours_ttl_and_is_bounded(dns: TestDnsServer, zones: Zones) -> None:
    zones.add("short.example", "A", "192.0.2.1", ttl=1).add("long.example", "A", "192.0.2.2")
    r = resolver(dns)
    for _ in range(3):
        r.query("short.example", "A", Budget(5))
        r.query("long.example", "A", Budget(5))
    assert zones.queries[("short.example", "A")] == 1
    time.sleep(1.1)
    r.query("short.example", "A", Budget(5))
    r.query("long.example", "A", Budget(5))
    assert zones.queries[("short.example", "A")] == 2
    assert zones.queries[("long.example", "A")] == 1
    small = DnsCache(max_entries=2)
    r2 = Resolver([dns.address], timeout=1.0, cache=small)
    for name in ("a.example", "b.example", "c.example"):
        r2.query(name, "TXT", Budget(5))
    assert len(small) == 2


@pytest.mark.parametrize("behaviour", ["slow", "garbage", "servfail"])
def test_failures_are_temporary_errors(dns: TestDnsServer, zones: Zones, behaviour: str) -> None:
    zones.misbehave["bad.example"] = behaviour
    started = time.monotonic()
    with pytest.raises(DnsTempError):
        resolver(dns, timeout=0.5).query("bad.example", "TXT", Budget(5))
    assert time.monotonic() - started < 3


def test_budget_bounds_every_lookup(dns: TestDnsServer, zones: Zones) -> None:
    zones.misbehave["bad.example"] = "slow"
    r = resolver(dns, timeout=3.0)
    budget = Budget(0.5)
    started = time.monotonic()
    with pytest.raises(DnsTempError):
        r.query("bad.example", "TXT", budget)
    assert time.monotonic() - started < 1.5
    with pytest.raises(DnsTempError, match="budget"):
        r.query("other.example", "TXT", budget)


def test_invalid_names_are_not_queried(dns: TestDnsServer, zones: Zones) -> None:
    r = resolver(dns)
    for name in ("a..example", "x" * 64 + ".example", ".example"):
        assert r.query(name, "TXT", Budget(5)).status == NXDOMAIN
    assert not zones.queries
