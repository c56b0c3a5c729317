"""Envelope rules: which HELO names, senders and recipients we accept.

Addresses are checked strictly (RFC 5321 lengths, no controls, valid UTF-8, SMTPUTF8 declared for
non-ASCII) because they end up in Redis keys, headers, logs and handler code. Recipients must be
in a served domain, judged on the text after the *last* `@` in its canonical form
(mailbus.domains: `bücher.example` is `xn--bcher-kva.example`); relay tricks (`%`, `!`, a quoted
`@`) and address literals are refused rather than interpreted. How much a client may send is
`listener.limits`' business.
"""

from __future__ import annotations

import ipaddress

from listener import replies
from mailbus.domains import canonical_domain

LOCAL_PART_MAX, PATH_MAX = 64, 256


class Domains:
    """The served domains; `*.example.com` covers every subdomain (not example.com itself)."""

    def __init__(self, domains: tuple[str, ...]) -> None:
        self.exact: set[str] = set()
        self.suffixes: list[str] = []
        for entry in domains:
            wildcard = entry.startswith("*.")
            name = canonical_domain(entry.removeprefix("*.")) or entry
            if wildcard:
                self.suffixes.append("." + name)
            else:
                self.exact.add(name)

    def serves(self, domain: str) -> bool:
        name = canonical_domain(domain)
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
    return None if canonical_domain(domain) else bad


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
