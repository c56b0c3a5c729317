"""DMARC (RFC 7489, with RFC 9091's np=) over the SPF and DKIM verdicts already computed.

The policy record is looked up at `_dmarc.<From domain>`, then at `_dmarc.<organisational
domain>` (publicsuffixlist, whose list ships inside the wheel: nothing is fetched at run time).
Identifier alignment is relaxed (same organisational domain) or strict (same domain) per
`aspf=`/`adkim=`. The policy reported is the one that applies: `p=` for the organisational
domain itself, `sp=` (else `p=`) for a subdomain, `np=` (else that) for a non-existent one.
"""

from __future__ import annotations

import functools

from publicsuffixlist import PublicSuffixList

from mailbus.auth.resolver import NXDOMAIN, OK, Budget, DnsTempError, Resolver, valid_name
from mailbus.auth.results import DkimResult, DmarcResult, SpfResult

POLICIES = ("none", "quarantine", "reject")
_psl = PublicSuffixList()


@functools.lru_cache(maxsize=4096)
def org_domain(domain: str) -> str:
    """The organisational domain (RFC 7489 §3.2): public suffix plus one label. Cached: the
    list ships in the wheel and never changes while the process runs, and alignment asks for
    the same few domains three times a message."""
    domain = domain.rstrip(".").lower()
    return _psl.privatesuffix(domain) or domain


def parse_record(text: str) -> dict[str, str] | None:
    """A DMARC record's tags, lower-cased; None unless it starts with v=DMARC1 (§6.4)."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), value.strip())
    if not text.lstrip().startswith("v=DMARC1") or tags.get("v") != "DMARC1":
        return None
    return tags


def check_dmarc(
    from_domains: list[str],
    spf: SpfResult,
    dkim: list[DkimResult],
    resolver: Resolver,
    budget: Budget,
) -> DmarcResult:
    """The DMARC verdict for the single `From:` domain; several domains are `permerror`."""
    domains = sorted({d.rstrip(".").lower() for d in from_domains})
    if len(domains) != 1:
        return DmarcResult("permerror", ",".join(domains)[:255])
    domain = domains[0]
    if not valid_name(domain):
        return DmarcResult("none", domain[:255])
    org = org_domain(domain)
    spf_aligned = spf.result == "pass" and _aligned(spf.domain, domain)
    try:
        tags, found_at = _find_record(domain, org, resolver, budget)
        if tags is None:
            return DmarcResult("none", domain, org)
        strict_spf, strict_dkim = tags.get("aspf") == "s", tags.get("adkim") == "s"
        spf_aligned = spf.result == "pass" and _aligned(spf.domain, domain, strict_spf)
        dkim_aligned = any(
            d.result == "pass" and _aligned(d.domain, domain, strict_dkim) for d in dkim
        )
        policy = _policy(tags, domain, found_at, resolver, budget)
    except DnsTempError:
        return DmarcResult("temperror", domain, org, spf_aligned=spf_aligned)
    passed = spf_aligned or dkim_aligned
    return DmarcResult("pass" if passed else "fail", domain, org, policy, spf_aligned, dkim_aligned)


def _find_record(
    domain: str, org: str, resolver: Resolver, budget: Budget
) -> tuple[dict[str, str] | None, str]:
    for name in dict.fromkeys((domain, org)):
        answer = resolver.query(f"_dmarc.{name}", "TXT", budget)
        if answer.status != OK:
            continue
        texts = [t.decode("ascii", "replace") for t in answer.texts()]
        records = [t for t in map(parse_record, texts) if t is not None]
        if len(records) == 1 and records[0].get("p", "").lower() in POLICIES:
            return records[0], name
        if records:  # several records, or no usable p=: no policy (§6.6.3)
            return None, name
    return None, ""


def _policy(
    tags: dict[str, str], domain: str, found_at: str, resolver: Resolver, budget: Budget
) -> str:
    policy = tags["p"].lower()
    if found_at == domain:
        return policy
    sp = tags.get("sp", "").lower()
    policy = sp if sp in POLICIES else policy
    np = tags.get("np", "").lower()
    if np in POLICIES and not _exists(domain, resolver, budget):
        return np
    return policy


def _exists(domain: str, resolver: Resolver, budget: Budget) -> bool:
    """RFC 9091 §2.1: a domain does not exist when A, AAAA and MX all answer NXDOMAIN."""
    return any(resolver.query(domain, t, budget).status != NXDOMAIN for t in ("A", "AAAA", "MX"))


def _aligned(identifier: str, domain: str, strict: bool = False) -> bool:
    identifier = identifier.rstrip(".").lower()
    if not identifier:
        return False
    if strict:
        return identifier == domain
    return org_domain(identifier) == org_domain(domain)
