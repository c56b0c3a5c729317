"""Sorting leaf parts into bodies and attachments, and building `Attachment` records.

Owns the rules: an inline text/plain or text/html part without a filename is a body (the first of
each becomes `text`/`html`, later ones `other_bodies`; a named inline one fills an empty slot and
is also kept as an attachment); report parts (delivery-status, feedback) and other inline text/*
are other bodies; everything else is an attachment. A forwarded message/rfc822 is one attachment
(`is_message`) and the attachments inside it hang under it (`parent`); so do the files unpacked
from a TNEF winmail.dat, whose body becomes the message's when the message has none of its own.
Bodies of forwarded messages stay inside their attachment and never become the outer text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from mailbus.message import Attachment, Body
from mailbus.parse import detect, filenames, security, tnef, transfer
from mailbus.parse.bodies import decode_text
from mailbus.parse.limits import Budget
from mailbus.parse.mime import Part

_BODY_TYPES = {"text/plain", "text/html"}
_REPORT_TYPES = {
    "message/delivery-status",
    "message/global-delivery-status",
    "message/feedback-report",
    "message/disposition-notification",
    "text/rfc822-headers",
}


@dataclass
class Collected:
    """What the leaf parts of a message turned into."""

    text: str | None = None
    html: str | None = None
    other_bodies: list[Body] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    tnef_text: str | None = None
    tnef_html: str | None = None


def collect(parts: list[Part], budget: Budget) -> Collected:
    """Walk the parts in document order and sort each one."""
    out = Collected()
    owner: list[int | None] = []  # per part: index of the attachment it lives inside
    for part in parts:
        inside = None
        if part.parent is not None:
            parent = parts[part.parent]
            inside = parent.attachment if parent.attachment is not None else owner[part.parent]
        owner.append(inside)
        if part.kind == "multipart" or budget.out_of_time() or security.is_pgp_control(parts, part):
            continue
        raw_name = filenames.raw_filename(part.disp_params, part.params, budget)
        named = raw_name is not None or part.disposition == "attachment"
        if part.kind == "leaf" and not named and _is_body(part):
            if inside is None:
                _add_body(out, part, budget)
            continue
        if inside is None and part.disposition != "attachment" and _slot_free(out, part):
            _add_body(out, part, budget)  # inline text with a filename: body and attachment
        att = _attachment(part, raw_name, len(out.attachments), inside, budget)
        part.attachment = att.index
        out.attachments.append(att)
        if tnef.is_tnef(part.content_type, raw_name, att.read()):
            unpacked = tnef.unpack(att.read(), budget, part.path)
            if inside is None:
                out.tnef_text = out.tnef_text or unpacked.text
                out.tnef_html = out.tnef_html or unpacked.html
            for name, data in unpacked.files:
                index = len(out.attachments)
                kind = detect.detect(data)[0]
                ctype = kind or "application/octet-stream"
                out.attachments.append(_make(index, name or None, ctype, data, att.index, kind))
    if out.text is None and out.html is None:  # the only body is inside winmail.dat
        out.text, out.html = out.tnef_text, out.tnef_html
    names = filenames.deduplicate([a.filename for a in out.attachments])
    for att, name in zip(out.attachments, names, strict=True):
        att.filename = name
    return out


def _is_body(part: Part) -> bool:
    return part.content_type.startswith("text/") or part.content_type in _REPORT_TYPES


def _slot_free(out: Collected, part: Part) -> bool:
    if part.kind != "leaf":
        return False
    if part.content_type == "text/plain":
        return out.text is None
    return part.content_type == "text/html" and out.html is None


def _add_body(out: Collected, part: Part, budget: Budget) -> None:
    text = decode_text(part, budget)
    if part.content_type == "text/plain" and out.text is None:
        out.text = text
    elif part.content_type == "text/html" and out.html is None:
        out.html = text
    else:
        charset = part.params.get("charset", "")
        out.other_bodies.append(Body(part.content_type, text, charset))


def _attachment(
    part: Part, raw_name: str | None, index: int, parent: int | None, budget: Budget
) -> Attachment:
    if part.kind == "message":
        content = part.body
    else:
        content = transfer.decode_body(part.body, part.cte, budget, part.path)
    detected, strong = detect.detect(content)
    att = _make(index, raw_name, part.content_type, content, parent, detected)
    att.part = part.path
    att.is_message = part.kind == "message"
    att.disposition = part.disposition
    cid = _header(part, "content-id")
    att.content_id = cid.strip().strip("<>").strip() or None if cid else None
    att.is_inline = part.disposition == "inline" or (part.disposition is None and bool(cid))
    if detect.mismatch(part.content_type, detected, strong):
        budget.defect(part.path, "type_mismatch", f"{part.content_type} vs {att.detected_type}")
    if raw_name and att.filename != raw_name:
        budget.defect(part.path, "filename_sanitised", raw_name[:80])
    if raw_name and any(ch in raw_name for ch in "\u202e\u202d\u2066\u2067\u2068"):
        budget.defect(part.path, "suspicious_filename", "bidi override")
    return att


def _make(
    index: int,
    raw_name: str | None,
    content_type: str,
    content: bytes,
    parent: int | None,
    detected: str | None,
) -> Attachment:
    return Attachment(
        index=index,
        filename=filenames.sanitise(raw_name, index + 1, content_type),
        filename_raw=raw_name,
        content_type=content_type,
        detected_type=detected,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        parent=parent,
        _content=content,
    )


def _header(part: Part, name: str) -> str | None:
    return next((v for k, v in part.headers if k.lower() == name), None)
