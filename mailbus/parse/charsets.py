"""Turning bytes in a declared charset into text, whatever the sender declared.

Owns the alias table for names mail clients really send (`ks_c_5601-1987`, `x-mac-*`, `uft-8`,
`charset=…` junk) and the fallback chain for unknown names and bytes that do not fit the declared
charset: declared → UTF-8 → charset-normalizer's guess → cp1252 with replacement. A body is never
dropped; the caller gets a defect kind when a fallback was needed.
"""

from __future__ import annotations

import codecs

import charset_normalizer

_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ks_c_5601-1989": "cp949",
    "korean": "cp949",
    "euc-kr": "cp949",
    "uft-8": "utf-8",
    "utf8": "utf-8",
    "utf-8n": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "shift-jis": "cp932",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "big5": "big5hkscs",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "x-mac-ce": "mac_latin2",
    "x-mac-cyrillic": "mac_cyrillic",
    "x-mac-greek": "mac_greek",
    "x-mac-turkish": "mac_turkish",
    "x-mac-icelandic": "mac_iceland",
    "x-mac-ukrainian": "mac_cyrillic",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "x-user-defined": "cp1252",
    "cp-850": "cp850",
}
# Names Python knows that are not text charsets a sender could mean (or that would mis-decode).
_REFUSED = {"unicode_escape", "raw_unicode_escape", "punycode", "idna", "undefined", "mbcs", "oem"}
_NO_CHARSET = {"", "unknown-8bit", "x-unknown", "unknown", "default", "none", "binary", "8bit"}


def normalise(name: str | None) -> str:
    """Clean a declared charset name (quotes, junk prefixes, case) and map known aliases."""
    value = (name or "").strip().strip("\"'").strip().lower()
    if value.startswith("charset="):
        value = value[len("charset=") :].strip("\"'")
    value = value.split(";", 1)[0].strip()
    return _ALIASES.get(value, value)


def lookup(name: str | None) -> str | None:
    """The Python codec for a declared charset, or None when it is unknown or unusable."""
    value = normalise(name)
    if value in _NO_CHARSET:
        return None
    try:
        codec = codecs.lookup(value).name
    except (LookupError, ValueError, TypeError):
        return None
    if codec in _REFUSED or not getattr(codecs.lookup(codec), "_is_text_encoding", True):
        return None
    return codec


def decode(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode `data`; returns (text, defect kind or None). Never raises, never loses the body."""
    codec = lookup(charset)
    if codec is not None:
        try:
            return data.decode(codec), None
        except (UnicodeError, LookupError, ValueError, TypeError):
            kind = "charset_mismatch"
    else:
        kind = "unknown_charset" if normalise(charset) not in _NO_CHARSET else "missing_charset"
    if data.isascii():
        return data.decode("ascii"), None if kind == "missing_charset" else kind
    try:
        return data.decode("utf-8"), kind
    except UnicodeDecodeError:
        pass
    return guess(data), kind


def guess(data: bytes) -> str:
    """Best guess for 8-bit bytes with no usable charset: charset-normalizer, then cp1252."""
    try:
        best = charset_normalizer.from_bytes(data[:65536]).best()
        if best is not None and best.encoding:
            return data.decode(best.encoding, "replace")
    except Exception:  # noqa: BLE001 - a detector bug must not lose the body
        pass
    return data.decode("cp1252", "replace")
