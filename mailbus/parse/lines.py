"""Line ends in a message as received: where lines end, and the one case where bytes change.

A line ends at LF with or without a CR before it, and the CRLF before a MIME boundary belongs to
the boundary (RFC 2046 5.1.1), so parts can be sliced from the original bytes. Only a message
whose header lines end in bare CR (an old Mac file) is rewritten to LF before the walk.
"""

from __future__ import annotations

from mailbus.parse.limits import Budget

_BOM = b"\xef\xbb\xbf"


def normalise(raw: bytes, budget: Budget, part: str = "") -> bytes:
    """Strip a UTF-8 BOM and leading blank lines; lines ending in bare CR become LF lines.

    CRLF and LF are both line ends for the walk, so they stay as sent. Bare CR (old Mac files),
    and bare LF in a message that otherwise uses CRLF (what the listener accepts "with a note"),
    are defects; a message with LF line ends only is a file saved on a Unix system.
    """
    data = raw
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
        budget.defect(part, "byte_order_mark")
    if b"\r" in data:
        crlf = data.count(b"\r\n")
        if data.count(b"\r") > crlf:
            budget.defect(part, "bare_cr_line_endings")
            if _cr_lines(data):
                data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if crlf and (bare_lf := data.count(b"\n") - crlf):
            budget.defect(part, "bare_lf_line_endings", f"{bare_lf} bare LF")
    return data.lstrip(b" \t\r\n")


def _cr_lines(data: bytes) -> bool:
    """True when the header lines end in bare CR: the only case where bytes are rewritten."""
    head = data[: data.find(b"\n") + 1] if b"\n" in data else data
    return head.replace(b"\r\n", b"").find(b"\r") >= 0


def before_delimiter(buf: bytes, at: int, floor: int) -> int:
    """Where the content before a delimiter at `at` ends: its CRLF (or LF) belongs to the line."""
    end = max(floor, at - 1)
    if end > floor and buf[end - 1] == 0x0D:
        end -= 1
    return end
