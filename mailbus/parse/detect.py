"""What an attachment really is, judged from its bytes rather than the sender's Content-Type.

Owns the sniffing (the `filetype` library for binary formats plus small checks of our own for PDF,
ZIP, HTML and plain text) and the rule for when the declared type disagrees enough to be a defect:
only a strong (magic-bytes) detection can contradict a specific declared type; text sniffing and
generic declarations such as application/octet-stream never do.
"""

from __future__ import annotations

import filetype

_SNIFF_BYTES = 8192
_GENERIC = {
    "application/octet-stream",
    "application/unknown",
    "application/x-unknown",
    "application/binary",
    "application/x-download",
    "application/force-download",
    "binary/octet-stream",
}
_ZIP_FAMILY = (
    "application/zip",
    "application/x-zip",
    "application/vnd.",
    "application/java",
    "application/epub",
    "application/x-zip-compressed",
)
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "application/x-pdf": "application/pdf",
    "application/x-zip-compressed": "application/zip",
    "audio/mp3": "audio/mpeg",
    "image/x-icon": "image/vnd.microsoft.icon",
}


def detect(data: bytes) -> tuple[str | None, bool]:
    """(detected MIME type or None, whether it came from magic bytes rather than a text guess)."""
    head = data[:_SNIFF_BYTES]
    if head.startswith(b"%PDF-"):
        return "application/pdf", True
    if head.startswith(b"\x78\x9f\x3e\x22"):
        return "application/ms-tnef", True
    try:
        kind = filetype.guess(head)
    except Exception:  # noqa: BLE001 - a sniffer bug must not fail the message
        kind = None
    if kind is not None:
        return kind.mime, True
    if head.startswith(b"PK\x03\x04"):
        return "application/zip", True
    if not head or b"\x00" in head:
        return None, False
    lower = head.lstrip()[:64].lower()
    if lower.startswith((b"<!doctype html", b"<html")):
        return "text/html", False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            return None, False
    return "text/plain", False


def mismatch(declared: str, detected: str | None, strong: bool) -> bool:
    """True when a magic-bytes detection contradicts a specific declared type."""
    if detected is None or not strong or declared in _GENERIC:
        return False
    declared = _ALIASES.get(declared, declared)
    detected = _ALIASES.get(detected, detected)
    if declared == detected:
        return False
    if declared.startswith(_ZIP_FAMILY) and detected.startswith(_ZIP_FAMILY):
        return False
    return not declared.startswith("application/x-")
