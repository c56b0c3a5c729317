"""The whole authentication pipeline: every check in order over one resolver and one budget.

Kept out of the package's `__init__` so that importing `mailbus.auth.results` (as
`mailbus.message` does, in the listener too) never loads dkimpy, pyspf or dnspython.
"""

from __future__ import annotations

import functools
import re
import socket
from email.utils import getaddresses

from mailbus.auth.arc import check_arc
from mailbus.auth.dkimsig import check_dkim
from mailbus.auth.dmarc import check_dmarc
from mailbus.auth.fields import header_values
from mailbus.auth.header import build, claims_of
from mailbus.auth.iprev import check_iprev
from mailbus.auth.resolver import Budget, DnsCache, Resolver
from mailbus.auth.results import ArcResult, AuthResults
from mailbus.auth.spf import check_spf

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


@functools.lru_cache(maxsize=16)
def _shared(servers: tuple[str, ...], timeout: float) -> Resolver:
    """One resolver per configuration and process: the system's is read once, the cache shared."""
    return Resolver(list(servers) or None, timeout=timeout)


def authenticate(
    raw: bytes,
    *,
    client_ip: str,
    helo: str,
    mail_from: str,
    dns_servers: list[str] | None = None,
    authserv_id: str | None = None,
    dns_timeout: float = 3.0,
    budget: float = 10.0,
    cache: DnsCache | None = None,
) -> AuthResults:
    """See `mailbus.auth.authenticate`; `cache` given = a resolver of its own (tests)."""
    if cache is None:
        resolver = _shared(tuple(dns_servers or ()), dns_timeout)
    else:
        resolver = Resolver(dns_servers, timeout=dns_timeout, cache=cache)
    clock = Budget(budget)
    limits_hit: list[str] = []
    end = _BLANK_LINE.search(raw)
    head = (raw[: end.start()] if end else raw) + b"\r\n\r\n"
    fields = header_values(head, ("from", "authentication-results"))
    lowered = head.lower()
    spf = check_spf(resolver, clock, client_ip=client_ip, helo=helo, mail_from=mail_from)
    signed = b"dkim-signature" in lowered  # dkimpy parses the whole message: only when it must
    dkim = check_dkim(raw, resolver, clock, limits_hit) if signed else []
    sealed = b"arc-" in lowered
    arc = check_arc(raw, resolver, clock) if sealed else ArcResult("none")
    dmarc = check_dmarc(_domains(fields["from"]), spf, dkim, resolver, clock)
    iprev = check_iprev(client_ip, resolver, clock)
    me = authserv_id or socket.getfqdn()
    header = build(me, spf=spf, dkim=dkim, dmarc=dmarc, arc=arc, iprev=iprev, client_ip=client_ip)
    return AuthResults(
        spf=spf,
        dkim=dkim,
        dmarc=dmarc,
        arc=arc,
        iprev=iprev,
        header=header,
        ignored_headers=claims_of(fields["authentication-results"], me),
        limits_hit=limits_hit,
    )


def _domains(values: list[str]) -> list[str]:
    return [addr.rpartition("@")[2] for _name, addr in getaddresses(values) if "@" in addr]
