"""Reading a header block from bytes and decoding header values (RFC 5322, RFC 2047, RFC 6532).

Owns the line scanner that finds where headers end, the header caps (bytes, count, field size),
and the tolerant RFC 2047 encoded-word decoder. The standard library's header parsing raises on
some inputs and is quadratic on others, so this stays a single linear pass with hard caps.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence

from mailbus.parse import charsets
from mailbus.parse.limits import Budget

RawHeaders = list[tuple[str, str]]
"""(name, value) pairs; values are unfolded and decoded UTF-8 with surrogateescape (raw bytes)."""

_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:")
_BOM = b"\xef\xbb\xbf"
# Fields an MTA (and our listener, see mailbus.trace) puts in front of the message as received.
_TRACE = {"return-path", "x-original-to", "delivered-to", "received"}
# Tolerant: blanks inside the `=?charset?Q?` prefix and inside the text (old clients send both).
_ENCODED_WORD = re.compile(r"=\?[ \t]*([^?\s]{1,64})[ \t]*\?[ \t]*([bBqQ])[ \t]*\?([^?]*?)\?=")
_MAX_NESTING = 3  # an encoded word whose text is an encoded word, and so on
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(=\?)")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_RAW_BYTE = re.compile("[\udc80-\udcff]")  # an undecodable byte, kept by surrogateescape


def split_headers(
    buf: bytes, start: int, end: int, budget: Budget, part: str
) -> tuple[RawHeaders, int]:
    """Parse the header block at buf[start:end]; returns the headers and where the body starts.

    A line that is neither a header nor a continuation ends the block (like the stdlib), except a
    leading UTF-8 BOM, mbox `From ` line or single garbage line directly followed by a header,
    which are skipped with a defect. "Leading" also means right after the trace fields that the
    listener or another MTA prepended, where they are found on the worker's path.
    """
    limits = budget.limits
    headers: RawHeaders = []
    lines: list[bytes] = []
    name = ""
    field_len = 0
    pos = start
    used = 0
    capped = False
    leading = True  # nothing but trace fields so far

    def flush() -> None:
        if name and not capped:
            headers.append((name, _unfold(b"".join(lines))))

    while pos < end:
        nl = buf.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl
        nxt = end if nl < 0 else nl + 1
        line = buf[pos:line_end]
        if line.endswith(b"\r"):
            line = line[:-1]
        if leading and line.startswith(_BOM):
            budget.defect(part, "byte_order_mark")
            pos += len(_BOM)
            continue
        if not line.strip(b" \t"):
            flush()
            return headers, nxt
        used += nxt - pos
        if used > limits.max_header_bytes and not capped:
            budget.hit("header_bytes", part, f"more than {limits.max_header_bytes} header bytes")
            flush()
            capped = True
        if line[:1] in (b" ", b"\t"):
            if name and field_len < limits.max_header_field_bytes:
                lines.append(b"\n" + line)
                field_len += len(line)
            elif name:
                budget.defect(part, "header_field_too_long", name)
            pos = nxt
            continue
        match = _NAME.match(line)
        if match is None:
            if leading and (line.startswith(b"From ") or _next_is_header(buf, nxt, end)):
                budget.defect(part, "garbage_before_headers", _text(line[:80]))
                pos = nxt
                continue
            budget.defect(part, "missing_header_body_separator", _text(line[:80]))
            flush()
            return headers, pos
        flush()
        name = _text(match.group(1))
        leading = leading and name.lower() in _TRACE
        lines = [line[match.end() : match.end() + limits.max_header_field_bytes]]
        field_len = len(line)
        if field_len > limits.max_header_field_bytes:
            budget.defect(part, "header_field_too_long", name)
        if not capped and len(headers) >= limits.max_header_count:
            budget.hit("header_count", part, f"more than {limits.max_header_count} header fields")
            capped = True
        pos = nxt
    flush()
    return headers, end


def _next_is_header(buf: bytes, pos: int, end: int) -> bool:
    return _NAME.match(buf[pos : min(end, pos + 200)]) is not None


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _unfold(raw: bytes) -> str:
    value = raw.replace(b"\n", b"").strip(b" \t\r")
    return _text(value)


def has_raw_bytes(value: str) -> bool:
    return not value.isascii() and _RAW_BYTE.search(value) is not None


def clean_raw(value: str) -> str:
    """A raw value made safe for JSON and logs: undecodable bytes become U+FFFD, NUL removed."""
    if has_raw_bytes(value):
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value.replace("\x00", "")


def decode_value(value: str, budget: Budget, part: str, name: str = "") -> str:
    """Decode a raw header value: RFC 2047 encoded words, and 8-bit bytes outside them.

    An encoded word is decoded in its declared charset even when it carries raw 8-bit bytes; only
    bytes outside encoded words are read in the charsets ranked over the whole message
    (`Budget.header_codecs`). CR, LF, NUL and other controls never survive (header injection).
    """
    try:
        if has_raw_bytes(value):
            budget.defect(part, "8bit_header", name)
            value = decode_words(value, lambda text: read_8bit(text, budget))
        elif "=?" in value:
            value = decode_words(value)
    except Exception as exc:  # noqa: BLE001 - fall back to the raw value, never fail the message
        budget.defect(part, "header_decode_failed", f"{name}: {type(exc).__name__}")
        value = clean_raw(value)
    return _CONTROL.sub(" ", value).replace("\t", " ")


def read_8bit(text: str, budget: Budget) -> str:
    """Raw 8-bit bytes (kept by surrogateescape) in the message's ranked header charsets."""
    if not has_raw_bytes(text):
        return text
    raw = text.encode("utf-8", "surrogateescape")
    return charsets.read_in(raw, budget.header_codecs) or charsets.guess(raw, budget.charsets)


def outside_words(values: Sequence[str]) -> bytes:
    """The raw 8-bit text of `values` outside encoded words, joined: one sample to rank."""
    found = [v for v in values if has_raw_bytes(v)]
    return b"\n".join(_ENCODED_WORD.sub(" ", v).encode("utf-8", "surrogateescape") for v in found)


def decode_words(value: str, outside: Callable[[str], str] | None = None) -> str:
    """Decode RFC 2047 encoded words, joining adjacent ones (multi-byte chars may be split).

    `outside` decodes the text between encoded words. Text that decodes to encoded words again
    (a client that encoded twice) is decoded again, a few levels deep.
    """
    for _ in range(_MAX_NESTING):
        decoded = _decode_words_once(value, outside)
        if decoded == value or "=?" not in decoded:
            return decoded
        value, outside = decoded, None
    return value


def _decode_words_once(value: str, outside: Callable[[str], str] | None) -> str:
    value = _BETWEEN_WORDS.sub(r"\1\2", value)
    out: list[str] = []
    pending: bytes = b""
    pending_charset = ""
    pos = 0
    between = outside or str
    for match in _ENCODED_WORD.finditer(value):
        if match.start() > pos:
            out.append(_flush(pending, pending_charset))
            pending = b""
            out.append(between(value[pos : match.start()]))
        charset, kind, text = match.group(1).split("*", 1)[0], match.group(2), match.group(3)
        data = _decode_word(kind, text)
        if data is None:
            out.append(_flush(pending, pending_charset) + between(match.group(0)))
            pending = b""
        else:
            if pending and charset.lower() != pending_charset.lower():
                out.append(_flush(pending, pending_charset))
                pending = b""
            pending += data
            pending_charset = charset
        pos = match.end()
    out.append(_flush(pending, pending_charset))
    out.append(between(value[pos:]))
    return "".join(out)


def _decode_word(kind: str, text: str) -> bytes | None:
    try:
        if kind in "bB":
            clean = re.sub(r"[^A-Za-z0-9+/]", "", text)
            return base64.b64decode(clean + "=" * (-len(clean) % 4))
        return binascii.a2b_qp(text.encode("utf-8", "surrogateescape"), header=True)
    except (binascii.Error, ValueError):
        return None


def _flush(data: bytes, charset: str) -> str:
    return charsets.decode(data, charset)[0] if data else ""
