"""Attachment filenames: finding the sender's name and making a safe display name from it.

Owns name precedence (Content-Disposition `filename` before Content-Type `name`), decoding of
quoted and unquoted RFC 2047 encoded words and raw 8-bit bytes (RFC 2231 is done by `params`), and
sanitising *after* decoding: basename only, no `/ \\ :`, no control or bidi characters, NFC,
Windows reserved names neutralised, length capped, never empty (`attachment-<n>.<ext>`).
Storage keys never come from filenames; this name is for display and downloads only.
"""

from __future__ import annotations

import re
import unicodedata

from mailbus.parse import headers
from mailbus.parse.limits import Budget

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\ufeff:]")
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
_MAX_BYTES = 255
_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/ms-tnef": ".dat",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
}


def raw_filename(
    disp_params: dict[str, str], type_params: dict[str, str], budget: Budget
) -> str | None:
    """The sender's name for a part, decoded to text (RFC 2047 and 8-bit handled), or None.

    Raw 8-bit names are read like other raw header text: in the charsets ranked over the
    message, which prefer the ones it declares."""
    value = disp_params.get("filename") or type_params.get("name")
    if not value:
        return None
    try:
        value = headers.decode_words(value, lambda text: headers.read_8bit(text, budget))
    except Exception:  # noqa: BLE001 - keep the undecoded name rather than fail
        value = headers.clean_raw(value)
    return value.replace("\x00", "")


def sanitise(name: str | None, index: int, content_type: str) -> str:
    """A display-safe basename for `name`, or `attachment-<index>.<ext>` when nothing is left."""
    clean = unicodedata.normalize("NFC", name or "")
    clean = re.split(r"[/\\]", re.sub(r"^[A-Za-z]:", "", clean))[-1]
    clean = _UNSAFE.sub("", clean).strip(" .\t")
    if _RESERVED.match(clean):
        clean = "_" + clean
    if not clean:
        return f"attachment-{index}{_EXTENSIONS.get(content_type, '.bin')}"
    return _cap(clean)


def _cap(name: str) -> str:
    """Cut to 255 UTF-8 bytes, keeping a short extension."""
    if len(name.encode("utf-8")) <= _MAX_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = _MAX_BYTES - len(suffix.encode("utf-8"))
    return stem.encode("utf-8")[:budget].decode("utf-8", "ignore") + suffix


def deduplicate(names: list[str]) -> list[str]:
    """Make display names unique case-insensitively: `report.pdf`, `report (1).pdf`, …"""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate, n = name, 0
        while candidate.lower() in seen:
            n += 1
            stem, dot, ext = name.rpartition(".")
            candidate = f"{stem} ({n}).{ext}" if dot and stem else f"{name} ({n})"
        seen.add(candidate.lower())
        out.append(candidate)
    return out
