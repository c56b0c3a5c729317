"""ARC (RFC 8617) chain validation by dkimpy, keys fetched through our resolver.

dkimpy raises (IndexError, KeyError, dnspython's EmptyLabel, ...) instead of answering `fail`
when a seal or message signature has an empty or invalid `d=`/`s=`; RFC 8617 §5.2 says such a
chain fails, so every exception out of its verifier is a `fail` with the reason. The key lookup
refuses invalid names without a query (`KeyFetcher`).
"""

from __future__ import annotations

import re

import dkim

from mailbus.auth.dkimsig import QUIET, KeyFetcher, printable
from mailbus.auth.resolver import Budget, Resolver
from mailbus.auth.results import ArcResult

MAX_ARC_SETS = 50  # RFC 8617 §4.2.1: i= is 1..50
_INSTANCE = re.compile(rb"^\s*i\s*=\s*(\d+)", re.IGNORECASE)


def check_arc(raw: bytes, resolver: Resolver, budget: Budget) -> ArcResult:
    """`none` without ARC sets, else `pass` or `fail` for the whole chain."""
    try:
        verifier = dkim.ARC(raw, logger=QUIET, minkey=1024)
    except Exception:
        return ArcResult("fail", 0, "message headers cannot be parsed")
    arc_headers = [
        (name, value)
        for name, value in verifier.headers
        if name.lower() in (b"arc-seal", b"arc-message-signature", b"arc-authentication-results")
    ]
    if not arc_headers:
        return ArcResult("none", 0, "")
    length = _chain_length(arc_headers)
    if length > MAX_ARC_SETS:
        return ArcResult("fail", length, f"more than {MAX_ARC_SETS} ARC sets")
    if budget.spent():
        return ArcResult("fail", length, "temperror: authentication time budget spent")
    fetch = KeyFetcher(resolver, budget)
    try:
        cv, _sets, reason = verifier.verify(dnsfunc=fetch)
    except Exception as exc:  # dkimpy's known gap: malformed d=/s= raise instead of failing
        return ArcResult("fail", length, printable(f"invalid ARC set: {type(exc).__name__} {exc}"))
    if cv == dkim.CV_Pass:
        return ArcResult("pass", length, "")
    if cv == dkim.CV_None:
        return ArcResult("none", 0, printable(reason))
    if fetch.temporary:
        reason = f"temperror: key lookup: {fetch.temporary}"
    return ArcResult("fail", length, printable(str(reason)))


def _chain_length(headers: list[tuple[bytes, bytes]]) -> int:
    instances = set()
    for _name, value in headers:
        match = _INSTANCE.match(value)
        if match and len(match.group(1)) < 6:
            instances.add(int(match.group(1)))
    return max(instances, default=0)
