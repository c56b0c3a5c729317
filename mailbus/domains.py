"""The one canonical form of a domain name that routes, the listener's served domains and the
delivery digest compare: lower case, no trailing dot, every label in its IDNA A-label form.

Mail for `info@bücher.example` arrives as `info@xn--bcher-kva.example` from most MTAs and in the
Unicode form from SMTPUTF8 ones; both are one mailbox, so both must reach the same route and give
the same dedupe digest. Non-ASCII names are converted with UTS-46 non-transitional processing
(IDNA 2008, the `idna` package), as current MTAs and browsers do, so `straße` stays distinct
from `strasse`; ASCII names are only lower-cased and checked.
"""

from __future__ import annotations

import idna

DOMAIN_MAX, LABEL_MAX = 255, 63


def canonical_domain(domain: str) -> str | None:
    """Lower-case A-label form without a trailing dot; None when it is not a valid domain."""
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except UnicodeError:  # idna.IDNAError and its kinds
            return None
    name = domain.lower().rstrip(".")
    labels = name.split(".")
    if len(name) > DOMAIN_MAX or not all(labels):
        return None
    for label in labels:
        if len(label) > LABEL_MAX or label.startswith("-") or label.endswith("-"):
            return None
        if not label.replace("-", "").replace("_", "").isalnum():
            return None
    return name


def canonical_address(address: str) -> str:
    """`address` with its domain in canonical form and its local part untouched; unchanged when
    it has no domain, an address literal or a domain that is not valid."""
    local, at, domain = address.rpartition("@")
    if not at or domain.startswith("["):
        return address
    canonical = canonical_domain(domain)
    return address if canonical is None else f"{local}@{canonical}"


def unicode_address(address: str) -> str | None:
    """The Unicode (U-label) form of a canonical address whose domain has A-labels, else None:
    what a regex route written with the Unicode domain is matched against."""
    local, at, domain = address.rpartition("@")
    if not at or "xn--" not in domain:
        return None
    try:
        return f"{local}@{idna.decode(domain)}"
    except UnicodeError:  # an xn-- label that is not valid Punycode
        return None
