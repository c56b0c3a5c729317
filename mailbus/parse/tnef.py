"""Unpacking Outlook's winmail.dat (application/ms-tnef) into the files it carries.

Owns the call into `tnefparse` and the tolerance around it: a blob that is too large, truncated or
otherwise undecodable yields no children and a defect, while the winmail.dat itself stays a normal
attachment, so nothing is lost when decoding fails.
"""

from __future__ import annotations

import logging

from tnefparse import TNEF

from mailbus.parse.limits import Budget

_SIGNATURE = b"\x78\x9f\x3e\x22"
_MAX_FILES = 200


def is_tnef(content_type: str, filename: str | None, content: bytes) -> bool:
    """TNEF is declared as application/ms-tnef, or just named winmail.dat; check the signature."""
    named = content_type in ("application/ms-tnef", "application/vnd.ms-tnef")
    named = named or (filename or "").lower().endswith("winmail.dat")
    return named and content.startswith(_SIGNATURE)


def unpack(content: bytes, budget: Budget, part: str) -> list[tuple[str, bytes]]:
    """The (filename, bytes) pairs inside a TNEF blob; [] with a defect when it cannot be read."""
    if len(content) > budget.limits.max_tnef_bytes:
        budget.hit("tnef_bytes", part, f"winmail.dat over {budget.limits.max_tnef_bytes} bytes")
        return []
    logger = logging.getLogger("tnefparse")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        blob = TNEF(content, do_checksum=False)
        found = []
        for item in blob.attachments[:_MAX_FILES]:
            data = item.data if isinstance(item.data, bytes) else bytes(item.data or b"")
            try:
                name = str(item.long_filename() or "")
            except Exception:  # noqa: BLE001 - a bad name must not lose the file
                name = ""
            found.append((name, data))
        return found
    except Exception as exc:  # noqa: BLE001 - tnefparse raises many types on bad input
        budget.defect(part, "tnef_undecodable", type(exc).__name__)
        return []
    finally:
        logger.setLevel(level)
