"""Unpacking Outlook's winmail.dat (application/ms-tnef) into the files and body it carries.

Owns the call into `tnefparse` and the tolerance around it: a blob that is too large, truncated or
otherwise undecodable yields no children and a defect, while the winmail.dat itself stays a normal
attachment, so nothing is lost when decoding fails. The plain and HTML bodies are returned too,
for a message whose only body is inside the TNEF; an RTF-only body (Outlook's "Rich Text") is
decompressed (compressed-rtf) and read as plain text (striprtf).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from compressed_rtf import decompress
from striprtf.striprtf import rtf_to_text
from tnefparse import TNEF

from mailbus.parse import charsets
from mailbus.parse.limits import Budget

_SIGNATURE = b"\x78\x9f\x3e\x22"
_MAX_FILES = 200


def is_tnef(content_type: str, filename: str | None, content: bytes) -> bool:
    """TNEF is declared as application/ms-tnef, or just named winmail.dat; check the signature."""
    named = content_type in ("application/ms-tnef", "application/vnd.ms-tnef")
    named = named or (filename or "").lower().endswith("winmail.dat")
    return named and content.startswith(_SIGNATURE)


@dataclass
class Unpacked:
    """What a TNEF blob holds: its files as (name, bytes), and its bodies when it has them."""

    files: list[tuple[str, bytes]] = field(default_factory=list)
    text: str | None = None
    html: str | None = None


def unpack(content: bytes, budget: Budget, part: str) -> Unpacked:
    """The files and bodies inside a TNEF blob; empty with a defect when it cannot be read."""
    if len(content) > budget.limits.max_tnef_bytes:
        budget.hit("tnef_bytes", part, f"winmail.dat over {budget.limits.max_tnef_bytes} bytes")
        return Unpacked()
    logger = logging.getLogger("tnefparse")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        blob = TNEF(content, do_checksum=False)
        found = Unpacked()
        for item in blob.attachments[:_MAX_FILES]:
            data = item.data if isinstance(item.data, bytes) else bytes(item.data or b"")
            try:
                name = str(item.long_filename() or "")
            except Exception:  # noqa: BLE001 - a bad name must not lose the file
                name = ""
            found.files.append((name, data))
        found.text = _text(blob.body, blob.codepage, budget)
        found.html = _text(blob.htmlbody, None, budget)
        if found.text is None and found.html is None and blob._rtfbody:
            found.text = _rtf_text(blob._rtfbody, budget, part)
        return found
    except Exception as exc:  # noqa: BLE001 - tnefparse raises many types on bad input
        budget.defect(part, "tnef_undecodable", type(exc).__name__)
        return Unpacked()
    finally:
        logger.setLevel(level)


def _rtf_text(compressed: bytes, budget: Budget, part: str) -> str | None:
    """The text of a compressed RTF body; None with a defect when it cannot be read."""
    try:
        rtf = decompress(bytes(compressed) + b"\x00")
        return _text(rtf_to_text(rtf.decode("latin-1"), errors="replace").rstrip(), None, budget)
    except Exception as exc:  # noqa: BLE001 - both libraries raise many types on bad input
        budget.defect(part, "tnef_rtf_undecodable", type(exc).__name__)
        return None


def _text(body: object, codepage: str | None, budget: Budget) -> str | None:
    """A TNEF body as text: tnefparse gives str when it knew the codepage, else bytes."""
    if isinstance(body, str):
        text = body
    elif isinstance(body, bytes | bytearray):
        text = charsets.decode(bytes(body), codepage, budget.charsets)[0]
    else:
        return None
    text = text.rstrip("\x00").replace("\r\n", "\n")
    return text if text.strip() else None
