"""Structured MIME header values: `type/subtype; key=value; …` with RFC 2231 parameters.

Owns a lenient, linear parameter scanner: quoted or unquoted values (an unquoted value runs to the
next `;`, so `boundary=----=_NextPart_000` and `name==?utf-8?B?…?=` survive whole), RFC 2231
`name*=charset'lang'%xx` and `name*0*=` continuations, first occurrence wins, at most
`max_params` parameters (a 20,000-parameter Content-Type costs microseconds, not seconds).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from mailbus.parse import charsets
from mailbus.parse.limits import Budget

_SECTION = re.compile(r"^(?P<name>[^*]+)\*(?P<num>\d{1,3})?(?P<star>\*)?$")
_MAX_SECTIONS = 64


def parse_structured(
    value: str, budget: Budget, part: str, *, field: str = "content-type"
) -> tuple[str, dict[str, str]]:
    """Split a structured header into its lower-cased main value and its decoded parameters."""
    main, _, rest = value.partition(";")
    head, space, tail = main.strip().partition(" ")
    if space and "=" in tail:  # `text/plain charset=x`: a missing `;`
        budget.defect(part, "missing_parameter_separator", field)
        main, rest = head, tail + ";" + rest
    params: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    pos, count, size = 0, 0, len(rest)
    while pos < size:
        semi = _next_separator(rest, pos)
        item = rest[pos:semi].strip()
        pos = semi + 1
        if not item:
            continue
        count += 1
        if count > budget.limits.max_params:
            budget.hit("params", part, f"{field} has more than {budget.limits.max_params} params")
            break
        key, eq, val = item.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            budget.defect(part, "invalid_parameter", f"{field}: {item[:60]}")
            continue
        val = _unquote(val.strip())
        match = _SECTION.match(key)
        if match:
            num = int(match.group("num") or 0)
            if num < _MAX_SECTIONS:
                entry = sections.setdefault(match.group("name"), {})
                entry.setdefault(num, (val, bool(match.group("star")) or not match.group("num")))
            continue
        params.setdefault(key, val)
    for name, parts in sections.items():
        decoded = _join_2231(parts, budget, part)
        if decoded is not None:
            params[name] = decoded
    return main.strip().strip("\"'").lower(), params


def _next_separator(text: str, pos: int) -> int:
    """Index of the next `;` outside a quoted string (or len(text))."""
    quoted = False
    i = pos
    size = len(text)
    while i < size:
        if not quoted:
            semi = text.find(";", i)
            quote = text.find('"', i)
            if quote < 0 or (0 <= semi < quote):
                return size if semi < 0 else semi
            quoted, i = True, quote + 1
            continue
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            quoted = False
        i += 1
    return size


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"':
        end = value.rfind('"')
        inner = value[1:end] if end > 0 else value[1:]
        return re.sub(r"\\(.)", r"\1", inner)
    return value


def _join_2231(parts: dict[int, tuple[str, bool]], budget: Budget, part: str) -> str | None:
    """Reassemble `name*0*=utf-8''a%20; name*1=b` into text; gaps are tolerated with a defect."""
    order = sorted(parts)
    if order != list(range(len(order))):
        budget.defect(part, "rfc2231_gap")
    charset = ""
    chunks: list[bytes] = []
    for i, num in enumerate(order):
        val, encoded = parts[num]
        if encoded:
            if i == 0 and val.count("'") >= 2:
                charset, _, val = val.split("'", 2)
            chunks.append(unquote_to_bytes(val.encode("utf-8", "surrogateescape")))
        else:
            chunks.append(val.encode("utf-8", "surrogateescape"))
    text, kind = charsets.decode(b"".join(chunks), charset or "utf-8")
    if kind and charset:
        budget.defect(part, kind, f"rfc2231 charset {charset[:40]}")
    return text
