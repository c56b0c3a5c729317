"""The one DNS resolver every authentication check goes through, with a per-message time budget.

SPF, DKIM, ARC, DMARC and iprev all ask `Resolver.query`, so `MAILBUS_DNS_SERVERS`,
`MAILBUS_DNS_TIMEOUT`, the TTL-honouring cache and the `MAILBUS_AUTH_TIMEOUT` budget apply to
every lookup. A lookup never raises anything but `DnsTempError`: timeouts, SERVFAIL, garbage
answers and an exhausted budget all become that (the checks turn it into `temperror`), and
NXDOMAIN / no data come back as an empty `Answer` with its status, never as an exception.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

NXDOMAIN, NODATA, OK = "nxdomain", "nodata", "ok"
MAX_NEGATIVE_TTL = 3600  # RFC 2308 §5 suggests capping negative caching at hours; one is plenty


class DnsTempError(Exception):
    """The lookup could not be completed now (timeout, SERVFAIL, garbage, budget spent)."""


@dataclass(frozen=True)
class Answer:
    """What a name has for one type: `records` as text (TXT as a list of byte strings)."""

    status: str
    records: tuple[object, ...] = ()

    def texts(self) -> list[bytes]:
        """TXT records with their strings joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2)."""
        return [b"".join(r) for r in self.records if isinstance(r, tuple)]


class Budget:
    """The time one message may spend on DNS; every lookup's timeout is cut to what is left."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def spent(self) -> bool:
        return self.remaining() <= 0


class DnsCache:
    """A bounded LRU of answers, each kept until its TTL runs out; one per process."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[object, ...], tuple[float, Answer]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> Answer | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if hit[0] <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return hit[1]

    def put(self, key: tuple[object, ...], answer: Answer, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (time.monotonic() + ttl, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


PROCESS_CACHE = DnsCache()


def valid_name(name: str) -> bool:
    """False for names that must not be queried: an empty label, a label over 63 octets, > 253."""
    name = name[:-1] if name.endswith(".") else name
    try:
        octets = name.encode("idna") if not name.isascii() else name.encode()
    except UnicodeError:
        return False
    labels = octets.split(b".")
    return 0 < len(octets) <= 253 and all(0 < len(label) <= 63 for label in labels)


def nameservers(servers: list[str]) -> list[dns.nameserver.Nameserver]:
    """`host[:port]` (IPv6 as `[addr]:port` or bare) → dnspython nameservers, UDP with TCP retry."""
    result: list[dns.nameserver.Nameserver] = []
    for server in servers:
        host, port = server.strip(), 53
        if host.startswith("["):
            host, _, rest = host[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif host.count(":") == 1:
            host, _, digits = host.partition(":")
            port = int(digits)
        result.append(dns.nameserver.Do53Nameserver(host, port))
    return result


class Resolver:
    """Queries through our servers (or the system's), cached, bounded by a timeout and a budget."""

    def __init__(
        self,
        servers: list[str] | None = None,
        *,
        timeout: float = 3.0,
        cache: DnsCache | None = None,
    ) -> None:
        self.timeout = timeout
        self.cache = PROCESS_CACHE if cache is None else cache
        try:
            self._resolver = dns.resolver.Resolver(configure=not servers)
        except dns.resolver.NoResolverConfiguration:  # no resolv.conf: every lookup temperror
            self._resolver = dns.resolver.Resolver(configure=False)
        if servers:
            self._resolver.nameservers = nameservers(servers)
        self._resolver.cache = None  # ours honours TTLs and is bounded; one cache is enough
        self._scope = tuple(str(ns) for ns in self._resolver.nameservers)

    def query(self, name: str, rdtype: str, budget: Budget) -> Answer:
        """Ask for `rdtype` records of `name`; see the module docstring for what can come back."""
        name = name.rstrip(".").lower()
        key = (self._scope, name, rdtype)
        cached = self.cache.get(key)  # only valid names are ever cached
        if cached is not None:
            return cached
        if not valid_name(name):
            return Answer(NXDOMAIN)
        remaining = budget.remaining()
        if remaining <= 0:
            raise DnsTempError("authentication time budget spent")
        answer, ttl = self._ask(name, rdtype, min(self.timeout, remaining))
        self.cache.put(key, answer, ttl)
        return answer

    def _ask(self, name: str, rdtype: str, lifetime: float) -> tuple[Answer, float]:
        try:
            result = self._resolver.resolve(
                name, rdtype, lifetime=lifetime, search=False, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN as exc:
            return Answer(NXDOMAIN), _negative_ttl(exc.response(exc.qnames()[0]))
        except (dns.exception.DNSException, ValueError, OSError) as exc:
            raise DnsTempError(f"{name}/{rdtype}: {type(exc).__name__}") from None
        if result.rrset is None:
            return Answer(NODATA), _negative_ttl(result.response)
        return Answer(OK, tuple(_record(r, rdtype) for r in result.rrset)), result.rrset.ttl


def _record(rdata: object, rdtype: str) -> object:
    if rdtype in ("A", "AAAA"):
        return str(rdata.address)  # type: ignore[attr-defined]
    if rdtype == "MX":
        return (rdata.preference, rdata.exchange.to_text(True))  # type: ignore[attr-defined]
    if rdtype in ("PTR", "CNAME"):
        return rdata.target.to_text(True)  # type: ignore[attr-defined]
    return tuple(rdata.strings)  # type: ignore[attr-defined]


def _negative_ttl(response: dns.message.Message | None) -> float:
    """RFC 2308 §5: negative answers are cached for min(SOA TTL, SOA MINIMUM); no SOA, no cache."""
    if response is None:
        return 0
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            return min(rrset.ttl, rrset[0].minimum, MAX_NEGATIVE_TTL)
    return 0
