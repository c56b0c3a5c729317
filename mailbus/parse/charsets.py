"""Turning bytes in a declared charset into text, whatever the sender declared.

Owns the alias table for names mail clients really send (`ks_c_5601-1987`, `x-mac-*`, `uft-8`,
`charset=…` junk) and the fallback chain for unknown names and bytes that do not fit the declared
charset: declared → UTF-8 → `guess` (the charsets the message declares elsewhere, then
Windows-1252, unless another legacy charset clearly reads better) → cp1252 with replacement. A
body is never dropped; the caller gets a defect kind when a fallback was needed.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Sequence

import charset_normalizer
from charset_normalizer.cd import coherence_ratio
from charset_normalizer.md import mess_ratio

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
# Never a guess for 8-bit text: UTF-8 was tried already; the others "decode" any even-length input.
_NOT_A_GUESS = {"utf-8", "utf-7", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
                "utf-32-be"}  # fmt: skip
# Legacy charsets weighed beside the detector's proposals, which miss KOI8-R text; in
# order of preference when two read equally well.
_LEGACY = ("gb18030", "big5hkscs", "cp932", "cp949", "koi8-r", "cp1251")
_SAMPLE = 65536  # bytes the detector and the scoring look at
_CLEAN = 0.2  # charset-normalizer's mess ratio up to which a reading looks like text
_CLEARER = 0.2  # how much more recognisable a language must be to beat a preferred charset


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


def usable(names: Iterable[str]) -> tuple[str, ...]:
    """The codecs for declared charset names that can be a guess for other 8-bit text, deduped."""
    found: list[str] = []
    for name in names:
        codec = lookup(name)
        if codec and codec not in _NOT_A_GUESS and codec not in found:
            found.append(codec)
    return tuple(found)


def decode(
    data: bytes, charset: str | None, declared: Sequence[str] = ()
) -> tuple[str, str | None]:
    """Decode `data`; returns (text, defect kind or None). Never raises, never loses the body.

    `declared` are the charsets the message declares elsewhere, the first guesses when `data`
    has no usable charset of its own.
    """
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
    return guess(data, declared), kind


def guess(data: bytes, declared: Sequence[str] = ()) -> str:
    """Best reading of 8-bit bytes with no usable charset; U+FFFD only when no charset fits."""
    ranked = rank(data, declared)
    return read_in(data, ranked) or data.decode(ranked[0] if ranked else "cp1252", "replace")


def read_in(data: bytes, codecs_: Sequence[str]) -> str | None:
    """`data` in the first of `codecs_` that decodes it cleanly, else None."""
    for codec in codecs_:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def rank(data: bytes, declared: Sequence[str] = ()) -> list[str]:
    """Candidate codecs for 8-bit bytes with no usable charset, best first.

    Detectors fail on short Western text (a few accented letters read as Big5), so the charsets
    the message declares elsewhere come first, then Windows-1252, when they read as text; another
    charset wins only when it reads as cleanly and clearly more like a language. With no clean
    preferred reading, the cleanest reading wins, then the most recognisable language.
    """
    sample = data[:_SAMPLE]
    preferred = [*usable(declared), "cp1252"]
    candidates = list(dict.fromkeys([*preferred, *_LEGACY, *_detected(sample)]))
    readings = [(c, _score(t)) for c in candidates if (t := _read(sample, c)) is not None]
    ranked = sorted(readings, key=lambda r: (round(r[1][0], 2), -r[1][1]))  # stable: by preference
    first = next((r for r in readings if r[0] in preferred and r[1][0] <= _CLEAN), None)
    if first is not None:
        mess, language = first[1]
        better = [r for r in readings if r[1][0] <= mess and r[1][1] >= language + _CLEARER]
        ranked.insert(0, max(better, key=lambda r: r[1][1]) if better else first)
    return list(dict.fromkeys(codec for codec, _ in ranked))


def _detected(sample: bytes) -> list[str]:
    """charset-normalizer's proposals, best first (none if it fails)."""
    try:
        return list(usable(match.encoding for match in charset_normalizer.from_bytes(sample)))
    except Exception:  # noqa: BLE001 - a detector bug must not lose the body
        return []


def _read(sample: bytes, codec: str) -> str | None:
    """`sample` in `codec`, or None if it does not fit (a character cut at the end is fine)."""
    try:
        return codecs.getincrementaldecoder(codec)().decode(sample, final=False)
    except (UnicodeDecodeError, LookupError):
        return None


def _score(text: str) -> tuple[float, float]:
    """(mess ratio, 0 when it reads like text; how recognisable its best language is, 0 to 1)."""
    head = text[:8000]
    try:
        languages = coherence_ratio(head)
        return mess_ratio(head, maximum_threshold=1.0), languages[0][1] if languages else 0.0
    except Exception:  # noqa: BLE001 - a scoring bug ranks the reading last, never loses it
        return 1.0, 0.0
