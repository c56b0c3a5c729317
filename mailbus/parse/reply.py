"""`stripped_text`: the new part of a reply, without quoted history and signature.

Owns a small line-based heuristic in the spirit of email_reply_parser: the reply ends at the first
attribution line (`On … wrote:`, `-----Original Message-----`, an Outlook `From:`/`Sent:` block,
common non-English forms), trailing `>`-quoted lines and a `-- ` signature are dropped. When the
result would be empty the whole text is kept, so a handler never loses a message body.
"""

from __future__ import annotations

import re

_ATTRIBUTION = re.compile(
    r"^\s*(?:"
    r"on\b.{0,300}\bwrote:\s*$"
    r"|-{2,}\s*original message\s*-{2,}"
    r"|-{2,}\s*forwarded message\s*-{2,}"
    r"|_{20,}\s*$"
    r"|le\b.{0,300}\ba écrit\s*:\s*$"
    r"|am\b.{0,300}\bschrieb.{0,100}:\s*$"
    r"|el\b.{0,300}\bescribió:\s*$"
    r"|op\b.{0,300}\bschreef.{0,100}:\s*$"
    r"|(?:from|von|de):\s.{0,300}\n\s*(?:sent|gesendet|envoyé|date|datum):"
    r")",
    re.IGNORECASE | re.MULTILINE,
)
_SIGNATURE = re.compile(
    r"^(?:-- ?|—|sent from my \w+.*|get outlook for \w+.*|envoyé de mon \w+.*)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_MAX_CHARS = 200_000


def strip_reply(text: str | None) -> str | None:
    """The reply part of `text` (None stays None)."""
    if text is None:
        return None
    head = text[:_MAX_CHARS]
    joined = re.sub(r"(\bon\b[^\n]{0,200})\n([^\n]{0,200}\bwrote:)", r"\1 \2", head, flags=re.I)
    cut = _ATTRIBUTION.search(joined)
    body = joined[: cut.start()] if cut else joined
    sig = _SIGNATURE.search(body)
    if sig:
        body = body[: sig.start()]
    lines = body.rstrip().split("\n")
    while lines and lines[-1].lstrip().startswith(">"):
        lines.pop()
    result = "\n".join(lines).strip()
    return result or text.strip()
