"""The MIME tree walk: raw bytes in, a flat list of `Part`s (document order) out.

Parts are offsets into the bytes as received (see `lines`), so an attachment keeps the exact
bytes, size and sha256 it was sent with. Owns the iterative (never recursive) walk with its part,
depth and time budgets, lenient multipart splitting, descending into message/rfc822
(also when base64-encoded), and recovering parts hidden in preambles, epilogues and uuencoded
blocks. Everything is done with offsets into one buffer, so deep nesting copies nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailbus.parse import lines, transfer
from mailbus.parse.headers import RawHeaders, split_headers
from mailbus.parse.limits import Budget
from mailbus.parse.params import parse_structured

_OCTET = "application/octet-stream"
MESSAGE_TYPES = {"message/rfc822", "message/global"}
_GUESS_BOUNDARY = re.compile(rb"^--([^\s]{1,200})[ \t\r]*$", re.M)
_TYPE = re.compile(r'[^\s()<>@,;:\\"/\[\]?=]+/[^\s()<>@,;:\\"/\[\]?=]+')
_STRAY_PART = re.compile(rb"^content-type[ \t]*:", re.M | re.I)
# `multipart/mixedboundary="x"`, `multipart/mixed, boundary=x`: one character lost or wrong.
_BROKEN_MULTIPART = re.compile(
    r'\s*multipart/([a-z0-9-]+?)(?:[\s,:;.]*boundary\s*[=:]?\s*"?([^";\s]+))?(?:[^a-z0-9-]|$)', re.I
)


@dataclass
class Part:
    """One MIME entity; `parent` indexes the enclosing multipart or message part in the list."""

    path: str
    depth: int
    parent: int | None
    headers: RawHeaders
    content_type: str
    params: dict[str, str]
    buf: bytes = field(default=b"", repr=False)
    start: int = 0
    end: int = 0
    cte: str = ""
    disposition: str | None = None
    disp_params: dict[str, str] = field(default_factory=dict)
    kind: str = "leaf"
    origin: str = "mime"
    attachment: int | None = None
    """Index of the attachment made from this part, once `attachments.collect` has run."""

    @property
    def body(self) -> bytes:
        """The undecoded body (for a message part: the embedded message, transfer-decoded)."""
        return self.buf[self.start : self.end]


@dataclass
class _Item:
    buf: bytes
    start: int
    end: int
    depth: int
    parent: int | None
    path: str
    default_type: str = "text/plain"
    origin: str = "mime"


def walk(raw: bytes, budget: Budget) -> list[Part]:
    """Split a whole message into parts, within the budget; never raises on bad input."""
    buf = lines.normalise(raw, budget)
    parts: list[Part] = []
    stack = [_Item(buf, 0, len(buf), 0, None, "")]
    while stack:
        if budget.out_of_time():
            break
        if len(parts) >= budget.limits.max_parts:
            budget.hit("parts", detail=f"more than {budget.limits.max_parts} MIME parts")
            break
        item = stack.pop()
        part = _read_part(item, budget)
        parts.append(part)
        index = budget.parts = len(parts) - 1
        children = _expand(part, index, item, budget)
        stack.extend(reversed(children))
    return parts


def _read_part(item: _Item, budget: Budget) -> Part:
    headers, body_start = split_headers(item.buf, item.start, item.end, budget, item.path)
    fields: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in fields and key in ("content-type", "content-disposition"):
            budget.defect(item.path, f"duplicate_{key.replace('-', '_')}")
        fields.setdefault(key, value)
    ctype, params = item.default_type, dict[str, str]()
    if "content-type" in fields:
        declared, params = parse_structured(fields["content-type"], budget, item.path)
        if _TYPE.fullmatch(declared):
            ctype = declared
        elif declared == "text":
            ctype = "text/plain"
        elif repaired := _repair_multipart(fields["content-type"], item, budget):
            ctype, params = repaired
        else:
            budget.defect(item.path, "invalid_content_type", declared[:60])
    disposition: str | None = None
    disp_params: dict[str, str] = {}
    if "content-disposition" in fields:
        disposition, disp_params = parse_structured(
            fields["content-disposition"], budget, item.path, field="content-disposition"
        )
        disposition = disposition or None
    return Part(
        path=item.path,
        depth=item.depth,
        parent=item.parent,
        headers=headers,
        content_type=ctype,
        params=params,
        buf=item.buf,
        start=body_start,
        end=item.end,
        cte=fields.get("content-transfer-encoding", ""),
        disposition=disposition,
        disp_params=disp_params,
        origin=item.origin,
    )


def _repair_multipart(value: str, item: _Item, budget: Budget) -> tuple[str, dict[str, str]] | None:
    """A broken multipart Content-Type, kept as multipart with its boundary when evident."""
    match = _BROKEN_MULTIPART.match(value)
    if match is None:
        return None
    budget.defect(item.path, "content_type_repaired", value[:60])
    params = {}
    boundary = match.group(2) or ""
    if (
        boundary
        and item.buf.find(b"--" + boundary.encode("utf-8", "surrogateescape"), item.start, item.end)
        >= 0
    ):
        params["boundary"] = boundary
    return "multipart/" + match.group(1).lower(), params


def _expand(part: Part, index: int, item: _Item, budget: Budget) -> list[_Item]:
    """Decide what a part holds and return the work items for its children."""
    maintype = part.content_type.split("/", 1)[0]
    if maintype != "multipart" and part.content_type not in MESSAGE_TYPES:
        return _uuencoded_children(part, index, item) if maintype == "text" else []
    if item.depth >= budget.limits.max_depth:
        budget.hit("depth", part.path, f"nesting deeper than {budget.limits.max_depth}")
        return []
    child_path = f"{part.path}." if part.path else ""
    if part.content_type in MESSAGE_TYPES:
        part.kind = "message"
        if part.cte.strip().lower() not in ("", "7bit", "8bit", "binary"):
            budget.defect(part.path, "encoding_domain", part.cte[:40])
            inner = transfer.decode_body(part.body, part.cte, budget, part.path)
            part.buf, part.start, part.end = inner, 0, len(inner)  # the attachment: as decoded
            walked = lines.normalise(inner, budget, part.path)
            return [_Item(walked, 0, len(walked), item.depth + 1, index, child_path + "1")]
        return [_Item(part.buf, part.start, part.end, item.depth + 1, index, child_path + "1")]
    if part.cte.strip().lower() not in ("", "7bit", "8bit", "binary"):
        budget.defect(part.path, "encoding_domain", part.cte[:40])
    part.kind = "multipart"
    body_start = part.start
    boundary = part.params.get("boundary", "").strip().encode("utf-8", "surrogateescape")
    if not boundary:
        match = _GUESS_BOUNDARY.search(item.buf, body_start, item.end)
        if match is None:
            budget.defect(part.path, "no_boundary")
            part.kind, part.content_type = "leaf", "text/plain"
            return []
        boundary = match.group(1).removesuffix(b"--")
        budget.defect(part.path, "boundary_guessed")
    ranges, preamble, epilogue = _split(item.buf, body_start, item.end, boundary, budget, part)
    if not ranges:
        budget.defect(part.path, "start_boundary_not_found")
        part.kind, part.content_type = "leaf", "text/plain"
        return []
    default = "message/rfc822" if part.content_type == "multipart/digest" else "text/plain"
    children = _stray(item.buf, preamble, item, index, child_path + "preamble", budget)
    for n, (start, end) in enumerate(ranges, 1):
        children.append(
            _Item(item.buf, start, end, item.depth + 1, index, f"{child_path}{n}", default)
        )
    children += _stray(item.buf, epilogue, item, index, child_path + "epilogue", budget)
    return children


def _split(
    buf: bytes, start: int, end: int, boundary: bytes, budget: Budget, part: Part
) -> tuple[list[tuple[int, int]], tuple[int, int], tuple[int, int]]:
    """Child ranges, preamble and epilogue of a multipart body.

    A delimiter is a line that is exactly `--boundary` (then optional `--`, then optional blanks),
    like the stdlib; a line that only starts with it is content, recorded as `ambiguous_boundary`.
    """
    delim = b"--" + boundary
    room = max(budget.limits.max_parts - budget.parts, 1)
    marks: list[tuple[int, int]] = []
    closed_at = -1
    pos = start
    while pos < end:
        at = buf.find(delim, pos, end)
        if at < 0:
            break
        if at != start and buf[at - 1] != 0x0A:
            pos = at + 1
            continue
        nl = buf.find(b"\n", at, end)
        line_end = end if nl < 0 else nl + 1
        rest = buf[at + len(delim) : end if nl < 0 else nl]
        is_close = rest.startswith(b"--")
        if not is_close and rest.strip(b" \t\r"):
            budget.defect(part.path, "ambiguous_boundary")
            pos = at + 1
            continue
        marks.append((at, line_end))
        pos = line_end
        if is_close:
            closed_at = line_end
            break
        if len(marks) > room:
            budget.hit("parts", part.path, f"more than {budget.limits.max_parts} MIME parts")
            break
        if len(marks) % 1000 == 0 and budget.out_of_time():
            break
    if not marks:
        return [], (start, end), (end, end)
    if closed_at < 0 and len(marks) <= room:
        budget.defect(part.path, "close_boundary_not_found")
    ranges = []
    for (_, body_from), (next_at, _) in zip(marks, marks[1:], strict=False):
        ranges.append((body_from, lines.before_delimiter(buf, next_at, body_from)))
    if closed_at < 0 and len(marks) <= room:
        ranges.append((marks[-1][1], end))
    preamble = (start, lines.before_delimiter(buf, marks[0][0], start))
    epilogue = (closed_at, end) if closed_at >= 0 else (end, end)
    return ranges, preamble, epilogue


def _stray(
    buf: bytes, span: tuple[int, int], item: _Item, index: int, path: str, budget: Budget
) -> list[_Item]:
    """A MIME part or uuencoded file lost in a preamble or epilogue, recovered as a child."""
    start, end = span
    if end - start < 16:
        return []
    match = _STRAY_PART.search(buf, start, end)
    if match is None:
        return []
    budget.defect(path, "part_outside_boundaries")
    return [_Item(buf, match.start(), end, item.depth + 1, index, path, origin="recovered")]


def _uuencoded_children(part: Part, index: int, item: _Item) -> list[_Item]:
    """Old-style `begin 644 name` attachments inside a text part become their own parts."""
    if part.buf.find(b"begin ", part.start, part.end) < 0 or part.cte.lower() == "base64":
        return []
    items = []
    for n, (name, data) in enumerate(transfer.find_uuencoded(part.body), 1):
        safe = name.replace('"', "").replace("\\", "/")
        head = f'Content-Disposition: attachment; filename="{safe}"\n\n'
        buf = head.encode("utf-8", "surrogateescape") + data
        items.append(
            _Item(buf, 0, len(buf), item.depth + 1, index, f"{part.path}.uu{n}", _OCTET, "uuencode")
        )
    return items
