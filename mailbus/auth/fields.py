"""The few header fields the checks read (From, Authentication-Results), as email.parser reads them.

DMARC needs the `From:` addresses and RFC 8601 §5 the incoming Authentication-Results; building a
whole `email.message.Message` of the header block for that cost a fifth of a warm message's
checks. This walks the block with the feed parser's own line splitting, header-line pattern and
field rules (compat32), and hands back only the wanted fields, with the same values in the same
order as `BytesHeaderParser(policy=compat32).parsebytes(head).get_all(name)` gives.
"""

from __future__ import annotations

import io
from email.feedparser import headerRE  # type: ignore[attr-defined]
from email.policy import compat32


def header_values(head: bytes, names: tuple[str, ...]) -> dict[str, list[str]]:
    """Values of the fields called `names` (lower case) in the header block `head`, in order."""
    text = head.decode("ascii", "surrogateescape")
    found: dict[str, list[str]] = {name: [] for name in names}
    fields: list[list[str]] = []
    current: list[str] | None = None  # the lines of the wanted field being read, if any
    for line in io.StringIO(text, newline="").readlines():  # the feed parser's line split
        if not headerRE.match(line):  # the first line that is no header ends the block
            break
        if line[0] in " \t":  # a continuation: of the field above, if that one is wanted
            if current is not None:
                current.append(line)
            continue
        current = None
        if line.startswith("From "):  # an mbox envelope line, or a misplaced one: no field
            continue
        colon = line.find(":")
        if colon > 0 and line[:colon].lower() in found:  # (colon 0: no name, skipped)
            current = [line]
            fields.append(current)
    for lines in fields:
        name, value = compat32.header_source_parse(lines)
        found[name.lower()].append(str(compat32.header_fetch_parse(name, value)))
    return found
