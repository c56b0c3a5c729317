"""`parse()`: raw bytes (+ envelope) to an `InboundMessage`, without I/O and without ever raising.

Owns the orchestration (walk → headers → bodies and attachments → classification → reply) and the
last line of defence: any unexpected exception becomes a degraded message that still carries the
raw info, whatever headers could be read, and a `parser_error` defect, so the worker can always
hand the handler something and never burns retries on a deterministic failure.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from mailbus.envelope import Envelope
from mailbus.message import DateInfo, Header, InboundMessage, RawInfo
from mailbus.parse import addresses, charsets, classify, headers, mime, reply, reply_html, security
from mailbus.parse.attachments import collect
from mailbus.parse.bodies import html_to_text
from mailbus.parse.headers import RawHeaders, clean_raw, decode_value
from mailbus.parse.limits import Budget, ParseLimits

_UNIQUE = ("from", "sender", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id")
_MSG_ID = re.compile(r"<[^<>\s]{1,998}>")
_MAX_RECEIVED = 100
_WORD_CHARSET = re.compile(r"=\?([^?\s*]{1,64})[^?\s]*\?[bBqQ]\?")


def parse(
    raw: bytes,
    envelope: Envelope | None = None,
    *,
    limits: ParseLimits | None = None,
    msg_id: str = "",
    raw_key: str = "",
) -> InboundMessage:
    """Parse one raw message. Pure and total: bad input gives defects, never an exception."""
    data = _as_bytes(raw)
    digest = hashlib.sha256(data).hexdigest()
    msg = InboundMessage(
        id=msg_id or digest[:32],
        raw=RawInfo(key=raw_key, size=len(data), sha256=digest),
        envelope=envelope if isinstance(envelope, Envelope) else Envelope(),
    )
    msg.received_at = _received_at(msg.envelope)
    budget = Budget(limits if isinstance(limits, ParseLimits) else ParseLimits())
    try:
        _fill(msg, data, budget)
    except Exception as exc:  # noqa: BLE001 - the contract is "never raises"
        budget.defect("", "parser_error", f"{type(exc).__name__}: {exc}"[:200])
    msg.defects = list(budget.defects)
    msg.limits_hit = list(budget.limits_hit)
    return msg


def _as_bytes(raw: object) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _received_at(envelope: Envelope) -> datetime | None:
    try:
        return datetime.fromtimestamp(envelope.received_at, UTC) if envelope.received_at else None
    except (OverflowError, OSError, ValueError, TypeError):
        return None


def _fill(msg: InboundMessage, data: bytes, budget: Budget) -> None:
    """Fill `msg` step by step, so whatever was done before a failure is kept."""
    parts = mime.walk(data, budget)
    if not parts:
        return
    budget.charsets = _declared_charsets(parts)
    sample = headers.outside_words([value for part in parts for _, value in part.headers])
    if sample:
        budget.header_codecs = tuple(charsets.rank(sample, budget.charsets))
    msg.headers = _headers(parts[0].headers, budget)
    fields = _first_values(parts[0].headers, budget)
    _fill_fields(msg, fields, budget)
    msg.date = _date([v for k, v in parts[0].headers if k.lower() == "date"], budget)
    found = collect(parts, budget)
    msg.text, msg.html, msg.other_bodies = found.text, found.html, found.other_bodies
    msg.attachments = found.attachments
    for att in found.attachments:
        if att.content_id and att.parent is None:
            msg.cid_map.setdefault(att.content_id, att)
    if msg.text is None and msg.html is not None:
        msg.text, msg.text_from_html = html_to_text(msg.html), True
    sender = msg.from_.email if msg.from_ else ""
    msg.classification = classify.classify(fields, msg.subject, sender, parts, budget)
    msg.security = security.inspect(parts, msg.attachments, budget)
    answer = reply.split_reply(msg.text)
    msg.stripped_text, msg.signature = answer.text, answer.signature
    msg.stripped_html = reply_html.strip_html(msg.html)


def _declared_charsets(parts: list[mime.Part]) -> tuple[str, ...]:
    """The charsets the message declares, in order: Content-Type parameters, encoded words."""
    names = [part.params.get("charset", "") for part in parts]
    for part in parts:
        names += [m for _, value in part.headers for m in _WORD_CHARSET.findall(value)]
        if len(names) > 1000:
            break
    return charsets.usable(names[:1000])


def _headers(raw: RawHeaders, budget: Budget) -> list[Header]:
    for name, value in raw:
        if "\x00" in value:  # clean_raw and decode_value drop it: say so
            budget.defect("", "nul_removed", name)
    return [
        Header(clean_raw(name), clean_raw(value), decode_value(value, budget, "", name))
        for name, value in raw
    ]


def _first_values(raw: RawHeaders, budget: Budget) -> dict[str, str]:
    """First occurrence of each header (lower-case name → raw value); duplicates noted."""
    fields: dict[str, str] = {}
    received = 0
    for name, value in raw:
        key = name.lower()
        received += key == "received"
        if key in fields and key in _UNIQUE:
            budget.defect("", "duplicate_unique_header", name)
        fields.setdefault(key, value)
    if received > _MAX_RECEIVED:
        budget.defect("", "loop_suspect", f"{received} Received headers")
    return fields


def _fill_fields(msg: InboundMessage, fields: dict[str, str], budget: Budget) -> None:
    def value(name: str) -> str:
        return decode_value(fields.get(name, ""), budget, "", name).strip()

    def addrs(name: str) -> list[addresses.Address]:
        return addresses.parse_list(fields.get(name, ""), budget, "", name)

    msg.subject = value("subject")
    msg.message_id = _first_id(value("message-id"))
    msg.in_reply_to = _first_id(value("in-reply-to"))
    msg.references = _MSG_ID.findall(value("references"))[:1000]
    msg.from_all = addrs("from")
    msg.from_ = msg.from_all[0] if msg.from_all else None
    if len(msg.from_all) > 1 and "sender" not in fields:  # RFC 5322 3.6.2 then requires Sender
        budget.defect("", "multiple_addresses", "from")
    msg.sender = addresses.parse_one(fields.get("sender", ""), budget, "", "sender")
    msg.reply_to, msg.to, msg.cc, msg.bcc = (
        addrs("reply-to"),
        addrs("to"),
        addrs("cc"),
        addrs("bcc"),
    )


def _date(raw: list[str], budget: Budget) -> DateInfo:
    """The first Date: that parses; an unparseable one before it is a defect, not the answer."""
    values = [decode_value(value, budget, "", "date").strip() for value in raw]
    for value in filter(None, values):
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            budget.defect("", "invalid_date", value[:80])
            continue
        return DateInfo(value, parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    return DateInfo(values[0], None) if values else DateInfo()


def _first_id(value: str) -> str | None:
    if not value:
        return None
    match = _MSG_ID.search(value)
    return match.group(0) if match else value[:998]
