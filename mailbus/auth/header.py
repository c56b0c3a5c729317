"""The RFC 8601 `Authentication-Results` value we state, and the incoming ones we must distrust.

Property values come from hostile mail (d=, s=, HELO), so each is written as a token when it is
one and as an escaped quoted-string otherwise: no input can add a resinfo or break the header.
"""

from __future__ import annotations

import re

from mailbus.auth.results import ArcResult, DkimResult, DmarcResult, IprevResult, SpfResult

_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-./=?^_`{|}~@:]+")
_COMMENT = re.compile(r"\([^()]*\)")


def value(text: str) -> str:
    """An RFC 8601 pvalue: the text itself when it is a token, else a quoted-string."""
    if not text.isprintable():  # (the usual case skips the filter: same text)
        text = "".join(c for c in text if c.isprintable())
    text = text[:255]
    if text and _TOKEN.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build(
    authserv_id: str,
    *,
    spf: SpfResult,
    dkim: list[DkimResult],
    dmarc: DmarcResult,
    arc: ArcResult,
    iprev: IprevResult,
    client_ip: str,
) -> str:
    """`authserv-id; iprev=...; spf=...; dkim=... (one per signature); dmarc=...; arc=...`."""
    parts = [value(authserv_id)]
    iprev_part = f"iprev={iprev.result} policy.iprev={value(client_ip)}"
    if iprev.hostname:
        iprev_part += f" ({_comment(iprev.hostname)})"
    parts.append(iprev_part)
    spf_property = "smtp.mailfrom" if spf.scope == "mailfrom" else "smtp.helo"
    parts.append(f"spf={spf.result} {spf_property}={value(spf.domain)}")
    for sig in dkim or [DkimResult("none")]:
        text = f"dkim={sig.result}"
        if sig.domain or sig.selector:
            text += f" header.d={value(sig.domain)} header.s={value(sig.selector)}"
        if sig.algorithm:
            text += f" header.a={value(sig.algorithm)}"
        if sig.reason:
            text += f" ({_comment(sig.reason)})"
        parts.append(text)
    policy = f" (p={dmarc.policy})" if dmarc.policy else ""  # a comment, as Gmail writes it
    parts.append(f"dmarc={dmarc.result}{policy} header.from={value(dmarc.domain)}")
    parts.append(f"arc={arc.result}" + (f" ({_comment(arc.reason)})" if arc.reason else ""))
    return "; ".join(parts)


def claims_of(values: list[str], authserv_id: str) -> list[str]:
    """The incoming Authentication-Results `values` whose authserv-id is ours (RFC 8601 §5)."""
    ours = authserv_id.strip().lower()
    claimed = []
    for raw in values:
        text = " ".join(raw.split())
        stripped = text
        for _ in range(5):  # nested comments, bounded
            stripped = _COMMENT.sub(" ", stripped)
        found = stripped.strip().split(";", 1)[0].split()
        if found and found[0].strip('"').lower() == ours:
            claimed.append(text[:500])
    return claimed


def _comment(text: str) -> str:
    if not text.isprintable() or "(" in text or ")" in text or "\\" in text:
        text = "".join(c for c in text if c.isprintable() and c not in "()\\")
    return text[:200]
