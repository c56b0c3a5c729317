"""SPF (RFC 7208) by pyspf, with every lookup routed through our resolver and budget.

pyspf resolves through its module-level `spf.DNSLookup` hook; we point that hook, once, at a
function that asks the resolver of the check running in this thread or task (a ContextVar), so
pyspf never reaches the system resolver on its own. One RFC gap is patched: when the address
lookup of one PTR name fails, RFC 7208 §5.5 says skip that name, where pyspf gives temperror.
"""

from __future__ import annotations

import ipaddress
from contextvars import ContextVar
from typing import Any

import spf

from mailbus.auth.dkimsig import printable
from mailbus.auth.resolver import Budget, DnsTempError, Resolver, valid_name
from mailbus.auth.results import SpfResult

_current: ContextVar[tuple[Resolver, Budget] | None] = ContextVar("mailbus_spf_dns", default=None)
RESULTS = {"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"}


def _lookup(name: str, qtype: str, strict: Any = True, timeout: float = 0) -> list[Any]:
    """pyspf's DNSLookup contract: [((name, qtype), value), ...]; TempError on a failed query."""
    active = _current.get()
    if active is None:
        raise spf.TempError("DNS lookup outside a mailbus SPF check")
    resolver, budget = active
    try:
        answer = resolver.query(name, "TXT" if qtype == "SPF" else qtype, budget)
    except DnsTempError as exc:
        raise spf.TempError(f"DNS {exc}") from None
    return [((name, qtype), value) for value in answer.records]


class _Query(spf.query):  # type: ignore[misc]
    def validated_ptrs(self) -> list[str]:
        """RFC 7208 §5.5: a PTR name whose address lookup fails is skipped, not a temperror."""
        names = self.dns_ptr(self.i)[: spf.MAX_PTR]
        valid = []
        for name in names:
            try:
                if self.cidrmatch(self.dns_a(name, self.A), self.cidrmax):
                    valid.append(name)
            except spf.TempError:
                continue
        return valid


def check_spf(
    resolver: Resolver, budget: Budget, *, client_ip: str, helo: str, mail_from: str
) -> SpfResult:
    """The SPF verdict for MAIL FROM, or for HELO when the reverse-path is null (RFC 7208 §2.4)."""
    spf.DNSLookup = _lookup  # pyspf's documented hook; idempotent
    scope = "mailfrom" if mail_from else "helo"
    sender = mail_from or f"postmaster@{helo}"
    domain = sender.rpartition("@")[2].strip().rstrip(".").lower()
    if not domain or not valid_name(domain):
        return SpfResult("none", domain, scope, "no valid domain to check")
    if budget.spent():
        return SpfResult("temperror", domain, scope, "authentication time budget spent")
    try:
        ipaddress.ip_address(client_ip)
    except ValueError:
        return SpfResult("permerror", domain, scope, "no valid client IP")
    token = _current.set((resolver, budget))
    try:
        query = _Query(i=client_ip, s=mail_from, h=helo, strict=True, timeout=resolver.timeout)
        result, _code, explanation = query.check()
    except Exception as exc:  # pyspf on hostile records must never take the worker down
        return SpfResult("temperror", domain, scope, f"SPF evaluation error: {type(exc).__name__}")
    finally:
        _current.reset(token)
    result = result if result in RESULTS else "permerror"
    return SpfResult(result, domain, scope, printable(str(explanation), 500))
