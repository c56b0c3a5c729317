"""iprev (RFC 8601 §3): the client IP's PTR names, kept only when one resolves back to the IP.

`pass` names the first confirmed hostname; `fail` means PTR names exist but none points back;
`permerror` means no PTR data at all (or no valid client IP); `temperror` a DNS failure. At most
`MAX_NAMES` PTR names are tried, as RFC 7208 §5.5 does for the same lookup.
"""

from __future__ import annotations

import ipaddress

from mailbus.auth.resolver import OK, Budget, DnsTempError, Resolver
from mailbus.auth.results import IprevResult

MAX_NAMES = 10


def check_iprev(client_ip: str, resolver: Resolver, budget: Budget) -> IprevResult:
    """Forward-confirmed reverse DNS for `client_ip`."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return IprevResult("permerror")
    if budget.spent():
        return IprevResult("temperror")
    rtype = "A" if address.version == 4 else "AAAA"
    try:
        names = resolver.query(address.reverse_pointer, "PTR", budget)
        if names.status != OK or not names.records:
            return IprevResult("permerror")
        transient = False
        for name in [str(n) for n in names.records][:MAX_NAMES]:
            try:
                forward = resolver.query(name, rtype, budget)
            except DnsTempError:
                transient = True
                continue
            if any(_same(address, a) for a in forward.records):
                return IprevResult("pass", name.lower())
    except DnsTempError:
        return IprevResult("temperror")
    return IprevResult("temperror" if transient else "fail")


def _same(address: ipaddress.IPv4Address | ipaddress.IPv6Address, other: object) -> bool:
    if str(other) == str(address):  # the usual canonical text: no parse needed
        return True
    try:
        return ipaddress.ip_address(str(other)) == address
    except ValueError:
        return False
