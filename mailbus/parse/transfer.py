"""Content-Transfer-Encoding: turning a part's body bytes back into its content.

Owns tolerant base64 (junk characters and bad padding survive, with a defect), quoted-printable,
uuencode (as a CTE and as `begin 644 name` blocks inside text, preamble or epilogue), and the
rule that an unknown encoding keeps the bytes as they are (`undecodable_part`), never drops them.
"""

from __future__ import annotations

import binascii
import re

from mailbus.parse.limits import Budget

_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=\s]")
_NOT_ALPHABET = re.compile(rb"[^A-Za-z0-9+/=]")
_UU_BEGIN = re.compile(rb"^begin[ \t]+[0-7]{3,4}[ \t]+([^\n]+)\n", re.M)
_UU_END = re.compile(rb"^end[ \t\r]*$", re.M)
_IDENTITY = {"", "7bit", "8bit", "binary", "7-bit", "8-bit"}


def decode_body(data: bytes, cte: str, budget: Budget, part: str) -> bytes:
    """Decode `data` per its transfer encoding; never raises."""
    cte = re.sub(r"[\s_]+", "-", cte.strip().strip("\"'").lower())
    if cte in _IDENTITY:
        return data
    if cte == "base64":
        return decode_base64(data, budget, part)
    if cte in ("quoted-printable", "qp"):
        return binascii.a2b_qp(data)
    if cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
        found = find_uuencoded(data)
        if found:
            return found[0][1]
        return decode_uu_lines(data.split(b"\n"))
    budget.defect(part, "unknown_transfer_encoding", cte[:40])
    return data


def decode_base64(data: bytes, budget: Budget, part: str) -> bytes:
    """Lenient base64: junk is skipped, missing padding added, a dangling char dropped.

    Decoding stops at the padding: what follows it (a signature a list appended, a second
    padded chunk) is dropped with a defect, as mail clients do, rather than decoded into noise.
    """
    if _NOT_BASE64.search(data):
        budget.defect(part, "invalid_base64_characters")
    clean = _NOT_ALPHABET.sub(b"", data)
    pad = clean.find(b"=")
    if pad >= 0:
        if clean[pad:].lstrip(b"="):
            budget.defect(part, "base64_data_after_padding")
        clean = clean[:pad]
    if len(clean) % 4 == 1:
        budget.defect(part, "invalid_base64_length")
        clean = clean[:-1]
    try:
        return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))
    except binascii.Error:
        budget.defect(part, "undecodable_part", "base64")
        return data


def find_uuencoded(text: bytes) -> list[tuple[str, bytes]]:
    """All `begin <mode> <name>` … `end` blocks in `text` as (name, content)."""
    if b"begin " not in text:
        return []
    found: list[tuple[str, bytes]] = []
    pos = 0
    while len(found) < 100:
        begin = _UU_BEGIN.search(text, pos)
        if begin is None:
            break
        end = _UU_END.search(text, begin.end())
        if end is None:
            break
        name = begin.group(1).strip().decode("utf-8", "surrogateescape")
        found.append((name, decode_uu_lines(text[begin.end() : end.start()].split(b"\n"))))
        pos = end.end()
    return found


def decode_uu_lines(lines: list[bytes]) -> bytes:
    """Decode uuencoded lines, repairing over-long lines the way many decoders do."""
    out = bytearray()
    for line in lines:
        line = line.rstrip(b"\r")
        if not line or line.startswith(b"begin ") or line.strip() == b"end":
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            size = (((line[0] - 32) & 63) * 4 + 5) // 3
            try:
                out += binascii.a2b_uu(line[:size])
            except binascii.Error:
                continue
    return bytes(out)
