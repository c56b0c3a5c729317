"""Can I believe this message? SPF, DKIM, DMARC, ARC and iprev verdicts over one owned resolver.

`authenticate()` is the whole pipeline as a plain function, used by the workers before dispatch
and by tools and tests. It never raises on hostile input or DNS trouble: each check gives the
RFC's verdict or `temperror`, and once `budget` seconds are spent the checks not yet done are
`temperror` (ARC: `fail` with that reason, as RFC 8617 has no temperror). Modules: resolver
(the one DNS path), spf, dkimsig, arc, dmarc, iprev, header (RFC 8601), results, pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailbus.auth.results import (
    ArcResult,
    AuthResults,
    DkimResult,
    DmarcResult,
    IprevResult,
    SpfResult,
)

if TYPE_CHECKING:
    from mailbus.auth.resolver import DnsCache

__all__ = [
    "ArcResult",
    "AuthResults",
    "DkimResult",
    "DmarcResult",
    "IprevResult",
    "SpfResult",
    "authenticate",
]


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
    """Every verdict for `raw` as received from `client_ip` (HELO `helo`, MAIL FROM `mail_from`).

    `dns_servers` are `host[:port]` (default: the system's); `authserv_id` names us in the
    header (default: this host's FQDN; the worker passes MAILBUS_HOSTNAME)."""
    from mailbus.auth import pipeline  # loads dkimpy, pyspf, dnspython: workers only

    return pipeline.authenticate(raw, client_ip=client_ip, helo=helo, mail_from=mail_from,
                                 dns_servers=dns_servers, authserv_id=authserv_id,
                                 dns_timeout=dns_timeout, budget=budget, cache=cache)  # fmt: skip
