"""Envelope rules and resource limits: which addresses we accept, and how much one client may use.

Addresses are checked strictly (RFC 5321 lengths, no controls, valid UTF-8, SMTPUTF8 declared for
non-ASCII) because they end up in Redis keys, headers, logs and handler code. Recipients must be
in a served domain, judged on the text after the *last* `@`; relay tricks (`%`, `!`, a quoted
`@`) and address literals are refused rather than interpreted. Connection counts are kept per
client IP, with IPv6 clients counted per /64 since one host usually owns a whole /64.
"""

from __future__ import annotations

import collections
import ipaddress

from listener import metrics, replies

ERROR_SLEEP = 1.0  # seconds added before each reply once a session passes the soft error limit
LOCAL_PART_MAX, DOMAIN_MAX, LABEL_MAX, PATH_MAX = 64, 255, 63, 256


def normalise_domain(domain: str) -> str | None:
    """Lower-case, no trailing dot, IDNA (xn--) form; None when it is not a valid domain."""
    domain = domain.lower().rstrip(".")
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        return None
    labels = ascii_domain.split(".")
    if len(ascii_domain) > DOMAIN_MAX or not all(labels):
        return None
    for label in labels:
        if len(label) > LABEL_MAX or label.startswith("-") or label.endswith("-"):
            return None
        if not label.replace("-", "").replace("_", "").isalnum():
            return None
    return ascii_domain


class Domains:
    """The served domains; `*.example.com` covers every subdomain (not example.com itself)."""

    def __init__(self, domains: tuple[str, ...]) -> None:
        self.exact: set[str] = set()
        self.suffixes: list[str] = []
        for entry in domains:
            wildcard = entry.startswith("*.")
            name = normalise_domain(entry.removeprefix("*.")) or entry
            if wildcard:
                self.suffixes.append("." + name)
            else:
                self.exact.add(name)

    def serves(self, domain: str) -> bool:
        name = normalise_domain(domain)
        if name is None:
            return False
        return name in self.exact or any(name.endswith(s) for s in self.suffixes)


def _is_invalid_utf8(text: str) -> bool:
    """aiosmtpd decodes arguments with surrogateescape: lone surrogates mean bad UTF-8."""
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _has_controls(text: str) -> bool:
    return any(ch < " " or ch == "\x7f" for ch in text)


def check_text(text: str, *, verb: str) -> str | None:
    """A reply refusing a HELO argument that could corrupt headers or logs, or None."""
    if _is_invalid_utf8(text):
        return replies.BAD_UTF8
    if _has_controls(text):
        return replies.SYNTAX_HELO.format(verb=verb)
    return None


def check_sender(address: str, *, smtputf8: bool) -> str | None:
    """A reply refusing MAIL FROM's address, or None; `<>` (bounces) is always allowed."""
    if address == "<>":
        return None
    return _check_syntax(address, smtputf8=smtputf8, bad=replies.BAD_SENDER)


def check_recipient(
    address: str, domains: Domains, *, smtputf8: bool, allow_literals: bool
) -> str | None:
    """A reply refusing RCPT TO's address, or None when we accept mail for it."""
    if "@" not in address and address.lower() == "postmaster":
        return None  # RFC 5321 §4.1.1.3: <Postmaster> without a domain must work
    problem = _check_syntax(address, smtputf8=smtputf8, bad=replies.BAD_RECIPIENT)
    if problem:
        return problem
    local, _, domain = address.rpartition("@")
    denied = replies.RELAY_DENIED.format(address=address)
    if any(ch in local for ch in "%!@"):
        return denied  # user%victim@us, victim!user@us, "user@victim"@us: never re-routed
    if domain.startswith("["):
        return None if allow_literals and _is_literal(domain) else denied
    return None if domains.serves(domain) else denied


def _check_syntax(address: str, *, smtputf8: bool, bad: str) -> str | None:
    if _is_invalid_utf8(address):
        return replies.BAD_UTF8
    if _has_controls(address) or "@" not in address:
        return bad
    if not address.isascii() and not smtputf8:
        return replies.NEED_SMTPUTF8
    local, _, domain = address.rpartition("@")
    if not local or len(local.encode()) > LOCAL_PART_MAX or len(address.encode()) + 2 > PATH_MAX:
        return bad
    if domain.startswith("["):
        return None if _is_literal(domain) else bad
    return None if normalise_domain(domain) else bad


def _is_literal(domain: str) -> bool:
    if not (domain.startswith("[") and domain.endswith("]")):
        return False
    text = domain[1:-1]
    text = text[5:] if text.lower().startswith("ipv6:") else text
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def client_key(ip: str) -> str:
    """The key one client's connections are counted under: the IPv4 address or the IPv6 /64."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def trusted(ip: str, networks: tuple[str, ...]) -> bool:
    """Whether `ip` is inside one of `networks` (the PROXY senders we believe)."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(net, strict=False) for net in networks)


class ConnectionLimits:
    """Open connections, in total and per client key; one instance per listener process."""

    def __init__(self, total: int, per_client: int) -> None:
        self.max_total, self.max_per_client = total, per_client
        self.total = 0
        self.per_client: collections.Counter[str] = collections.Counter()

    def open(self) -> bool:
        if self.total >= self.max_total:
            return False
        self.total += 1
        return True

    def close(self) -> None:
        self.total -= 1

    def open_client(self, key: str) -> bool:
        if self.per_client[key] >= self.max_per_client:
            return False
        self.per_client[key] += 1
        return True

    def close_client(self, key: str) -> None:
        self.per_client[key] -= 1
        if self.per_client[key] <= 0:
            del self.per_client[key]


class ByteBudget:
    """DATA bytes held in memory by all sessions of this process (catalogue B10)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        metrics.INFLIGHT_BYTES.inc(size)
        return True

    def give(self, size: int) -> None:
        self.used -= size
        metrics.INFLIGHT_BYTES.dec(size)

    def fits(self, size: int) -> bool:
        return self.used + size <= self.limit
