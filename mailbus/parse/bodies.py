"""Body text: decoding a text part to `str`, and plain text derived from HTML-only messages.

Owns the choice documented on `InboundMessage`: when a message has HTML but no text/plain part,
`text` is made from the HTML (tags dropped, scripts and styles skipped, block elements become line
breaks, entities unescaped) like Mailgun's `body-plain`, and `text_from_html` says so.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from mailbus.parse import charsets, transfer
from mailbus.parse.limits import Budget
from mailbus.parse.mime import Part

_BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"}
_SKIP = {"script", "style", "head", "title"}


def decode_text(part: Part, budget: Budget) -> str:
    """A text part as `str`: transfer-decoded, charset-decoded with fallbacks, LF line ends."""
    data = transfer.decode_body(part.body, part.cte, budget, part.path)
    charset = part.params.get("charset")
    text, kind = charsets.decode(data, charset, budget.charsets)
    if kind:
        budget.defect(part.path, kind, (charset or "")[:40])
    if charsets.lookup(charset) == "utf-7" and part.content_type == "text/html":
        budget.defect(part.path, "utf7_html")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if nul := text.count("\x00"):
        budget.defect(part.path, "nul_removed", f"{nul} NUL")
        text = text.replace("\x00", "")
    return text


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BLOCK:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    """Readable plain text from HTML; never raises (falls back to a crude tag strip)."""
    try:
        parser = _TextExtractor()
        parser.feed(html)
        parser.close()
        text = "".join(parser.chunks)
    except Exception:  # noqa: BLE001 - HTMLParser on hostile input; a crude strip is enough
        text = re.sub(r"<[^>]*>", " ", html)
    text = re.sub(r"[ \t\xa0]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
