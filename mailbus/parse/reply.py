"""`stripped_text` and `signature`: the new part of a plain-text reply, and its signature block.

Owns the adapter around mail-parser-reply, a maintained multi-language reply parser (attribution
lines and Outlook header blocks in a dozen languages, sign-offs, "Sent from my …" lines), and our
fallbacks only where it has none: a forwarded message keeps its content, interleaved answers
(and bottom posts) keep their quoted context, a trailing `>` block without attribution goes, and
the attribution and sent-from forms it lacks (Gmail in Spanish and Dutch, Apple Mail in Dutch
and Japanese, Japanese Outlook headers, German and French iPhones, Yahoo) are cut first. When
the result would be empty the whole text is kept, so a handler never loses a message body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from mailparser_reply.parser import EmailMessage, EmailReply

# Danish and Swedish are left out on purpose: their sign-offs ("Tak", "Kh", "/Anna") match the
# start of ordinary lines ("Take the train", "/var/log/syslog") and would cut the reply there.
_LANGUAGES = ("en", "de", "fr", "es", "nl", "it", "pl", "cs", "ja", "ko", "zh")
# The library's patterns cost about 0.5 µs a character; a reply's new part and its first
# attribution sit near the top, so only this much is looked at (a longer text with no reply
# marker in it is kept whole).
_WINDOW = 16_000
_FORWARD = re.compile(
    r"^[ \t]*(?:-{5,}[ \t]*(?:forwarded message|weitergeleitete nachricht|message transf[ée]r[ée]"
    r"|mensaje reenviado|doorgestuurd bericht|messaggio inoltrato)[ \t]*-{5,}"
    r"|begin forwarded message:|anfang der weitergeleiteten nachricht:"
    r"|d[ée]but du message r[ée]exp[ée]di[ée] :|inicio del mensaje reenviado:"
    r"|begin doorgestuurd bericht:|転送されたメッセージ:)[ \t]*$",
    re.I | re.M,
)
_ATTRIBUTION = re.compile(  # forms mail-parser-reply has no pattern for
    r"^[ \t>]*(?:"
    r"el\s[^\n]{0,300}\sescribi[óo]:"
    r"|op\s[^\n]{0,300}\s(?:schreef\s[^\n]{0,200}|het volgende geschreven):"
    r"|on\s[^\n]{0,300}\d[^\n]{0,300}@[^\n]{0,200}\swrote:"
    r"|\d{4}/\d{1,2}/\d{1,2}[^\n]{0,200}のメール:"
    r"|差出人:[^\n]*\n(?:[^\n]*\n){0,2}[ \t]*(?:送信日時|日付|宛先|件名):"
    r"|_{20,}[ \t]*$"  # Outlook's rule above the quoted message, or a list footer
    r")",
    re.I | re.M,
)
_SIGN_OFF = re.compile(  # sent-from lines and sign-offs mail-parser-reply has no pattern for
    r"^[ \t]*(?:-- ?|von meinem \w+ gesendet|envoy[ée] de mon \w+|verstuurd vanaf mijn \w+"
    r"|iphoneから送信|sent from yahoo mail\b.*|take care,|cheers,)[ \t]*$",
    re.I | re.M,
)


_QUOTE = re.compile(r"^[ \t]*>", re.M)
_RULE = re.compile(r"^[-_=*\s]*$")
_NEWLINE = re.compile(r"\n")
_HEADER_LINE = re.compile(r"^[^\n]*?(?:[:：]|-----|original message)", re.I | re.M)


@dataclass(frozen=True)
class Reply:
    """The new text of a reply and the signature block found after it (None if none)."""

    text: str | None
    signature: str | None = None


def split_reply(text: str | None) -> Reply:
    """The reply part of `text` and its signature (None stays None); never raises."""
    if text is None:
        return Reply(None)
    try:
        reply = _split(text[:_WINDOW])
    except Exception:  # noqa: BLE001 - a library bug must not cost the message its body
        reply = None
    if reply is None or not reply.text:
        return Reply(text.strip(), reply.signature if reply else None)
    return reply


def _split(raw: str) -> Reply | None:
    """The reply in `raw`, or None when there is nothing to strip (keep the whole text)."""
    body = "\n".join(line.strip() for line in raw.split("\n"))  # as the library sees lines
    header = _first_header(body)
    cut = _ATTRIBUTION.search(body)
    starts = [m.start() for m in (header, cut, _QUOTE.search(body)) if m is not None]
    forward = _FORWARD.search(body)
    if forward and forward.start() <= min(starts, default=len(body)):
        return None
    if _interleaved(body):
        reply = _cut_signature(body)
        return (
            Reply(_restore(reply.text or "", raw, body), reply.signature)
            if reply.signature
            else None
        )
    ends = [m.start() for m in (header, cut) if m is not None and body[: m.start()].strip()]
    content = body[: min(ends, default=len(body))]
    patterns = _patterns()
    signature = _at_line_starts(patterns.signature, content)
    reply = EmailReply(
        content=content,
        signatures=signature.group() if signature else "",
        disclaimers=patterns.disclaimers.findall(content),
    )
    ours = _cut_signature(reply.body)
    found = reply.signatures or ours.signature
    if not (starts or found or reply.disclaimers):
        return None
    return Reply(_restore(_drop_trailing_quotes(ours.text or ""), raw, body), found or None)


def _first_header(body: str) -> re.Match[str] | None:
    """The library's first reply header (attribution, Outlook block, "Original Message").

    Its header pattern is an alternation over every language, too slow to scan a long body
    with; every form it knows sits on a line with a colon or a dash rule, so only those lines
    are tried."""
    header = _patterns().header
    for line in _HEADER_LINE.finditer(body):
        match = header.match(body, line.start())
        if match is not None:
            return match
    return None


def _at_line_starts(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """`pattern.search(text)` for a pattern that can only start at a line start or a newline.

    The library's signature pattern is such an alternation; trying it only there is the same
    answer, found in a fraction of the time."""
    match = pattern.match(text, 0)
    for newline in _NEWLINE.finditer(text):
        if match is not None:
            return match
        at = newline.start()
        match = pattern.match(text, at) or pattern.match(text, at + 1)
    return match


@cache
def _patterns() -> _Patterns:
    """mail-parser-reply's compiled patterns for our languages, built once per process."""
    proto = EmailMessage("", languages=list(_LANGUAGES), keep_hyphen_lists=True)
    return _Patterns(proto.HEADER_REGEX, proto.SIGNATURE_REGEX, proto.DISCLAIMERS_REGEX)


@dataclass(frozen=True)
class _Patterns:
    header: re.Pattern[str]
    signature: re.Pattern[str]
    disclaimers: re.Pattern[str]


def _interleaved(body: str) -> bool:
    """Answers between or after quoted lines: the quote is context, not history."""
    lines = _cut_signature(body).text or ""
    seen_quote = False
    for line in lines.split("\n"):
        stripped = line.strip()
        if stripped.startswith(">"):
            seen_quote = True
        elif stripped.startswith("_" * 20):
            return False  # a list footer after the quote is not an answer
        elif stripped and seen_quote:
            return True
    return False


def _cut_signature(body: str) -> Reply:
    match = _SIGN_OFF.search(body)
    if match is None:
        return Reply(body.strip())
    return Reply(body[: match.start()].strip(), body[match.start() :].strip() or None)


def _restore(text: str, raw: str, body: str) -> str:
    """The lines of `text` as the sender wrote them: the library only sees stripped lines."""
    want = text.split("\n")
    lines = body.split("\n")
    for i in range(len(lines) - len(want) + 1):
        if lines[i] == want[0] and lines[i : i + len(want)] == want:
            return "\n".join(raw.split("\n")[i : i + len(want)]).rstrip()
    return text


def _drop_trailing_quotes(text: str) -> str:
    """Quoted lines and separator rules (`-----`) left at the end of the reply go."""
    lines = text.rstrip().split("\n")
    while lines and (lines[-1].lstrip().startswith(">") or _RULE.match(lines[-1])):
        lines.pop()
    return "\n".join(lines).strip()
