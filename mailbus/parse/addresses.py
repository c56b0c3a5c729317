"""Address headers (From, To, Cc, …) to `Address` records, groups included.

Owns a linear, non-recursive RFC 5322 address-list scanner: quoted strings, nested comments,
angle addresses and groups (`unlisted-recipients:;`, which makes the stdlib raise, CPython #83281).
It splits the raw value first and decodes RFC 2047 display names afterwards, so an encoded comma
cannot split an address. Addresses are for display: route on the envelope, never on these.
"""

from __future__ import annotations

import re

from mailbus.message import Address
from mailbus.parse.headers import clean_raw, decode_value
from mailbus.parse.limits import Budget

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_list(value: str, budget: Budget, part: str = "", name: str = "") -> list[Address]:
    """Every mailbox in an address-list header, in order; bad entries give defects, not errors."""
    out: list[Address] = []
    group: str | None = None
    chunk: list[str] = []
    quoted = escape = angle = False
    depth = 0

    def emit() -> None:
        text = "".join(chunk).strip()
        chunk.clear()
        if not text or ("(" in text and not _strip_comments(text).strip()):
            return  # nothing, or only a comment: not a mailbox
        if len(out) >= budget.limits.max_addresses:
            budget.hit("addresses", part, f"{name} lists too many addresses")
            return
        out.append(_mailbox(text, group, budget, part, name))

    for ch in value:
        if escape:
            escape = False
        elif quoted or depth:
            if ch == "\\":
                escape = True
            elif quoted and ch == '"':
                quoted = False
            elif depth and ch == "(":
                depth += 1
            elif depth and ch == ")":
                depth -= 1
        elif ch == '"':
            quoted = True
        elif ch == "(":
            depth = 1
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif not angle and ch == ",":
            emit()
            continue
        elif not angle and ch == ":" and group is None and "@" not in chunk:
            group = decode_value(_unquote("".join(chunk).strip()), budget, part, name)
            chunk.clear()
            continue
        elif not angle and ch == ";" and group is not None:
            emit()
            group = None
            continue
        chunk.append(ch)
    emit()
    return out


def parse_one(value: str, budget: Budget, part: str = "", name: str = "") -> Address | None:
    """The first mailbox of a single-address header such as From or Sender."""
    found = parse_list(value, budget, part, name)
    if len(found) > 1:
        budget.defect(part, "multiple_addresses", name)
    return found[0] if found else None


def _mailbox(text: str, group: str | None, budget: Budget, part: str, name: str) -> Address:
    """One `Name <local@domain>` or `local@domain (Name)` chunk as an Address."""
    display = ""
    lt = _outside_quotes_rfind(text, "<")
    if lt >= 0:
        gt = text.find(">", lt)
        addr = text[lt + 1 : gt if gt >= 0 else len(text)]
        display = _strip_comments(text[:lt]).strip() or _comment_text(text[lt:])
    else:
        addr = _strip_comments(text)
        display = _comment_text(text)
    addr = addr.strip().removeprefix("mailto:").split(":")[-1].strip().strip('"').strip()
    addr = "".join(addr.split())
    if "@" not in addr:
        budget.defect(part, "invalid_address", f"{name}: {text[:80]}")
    local, _, domain = addr.rpartition("@") if "@" in addr else (addr, "", "")
    tag = local.split("+", 1)[1] if "+" in local else None
    display = decode_value(_unquote(display.strip()), budget, part, name).strip()
    return Address(
        name=display,
        email=_clean(addr),
        local=_clean(local),
        domain=_clean(domain),
        tag=_clean(tag) if tag is not None else None,
        group=group,
    )


def _clean(value: str) -> str:
    """Undecodable bytes become U+FFFD and controls go: addresses end up in JSON and logs."""
    return _CONTROL.sub("", clean_raw(value))


def _outside_quotes_rfind(text: str, char: str) -> int:
    quoted, escape, found = False, False, -1
    for i, ch in enumerate(text):
        if escape:
            escape = False
        elif ch == "\\":
            escape = True
        elif ch == '"':
            quoted = not quoted
        elif ch == char and not quoted:
            found = i
    return found


def _strip_comments(text: str) -> str:
    out: list[str] = []
    depth = 0
    quoted = False
    for ch in text:
        if ch == '"' and not depth:
            quoted = not quoted
        if not quoted and ch == "(":
            depth += 1
            continue
        if not quoted and ch == ")" and depth:
            depth -= 1
            continue
        if not depth:
            out.append(ch)
    return "".join(out)


def _comment_text(text: str) -> str:
    start = text.find("(")
    end = text.rfind(")")
    return text[start + 1 : end] if 0 <= start < end else ""


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    return text.replace('\\"', '"').replace("\\\\", "\\")
