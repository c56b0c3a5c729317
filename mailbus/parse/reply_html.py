"""`stripped_html`: an HTML reply without the quoted message, cut where the mail client put it.

mail-parser-reply reads plain text only, so this owns the HTML side: the containers the big
clients wrap quoted history in (Gmail's `gmail_quote`, Apple Mail's and Thunderbird's
`<blockquote type="cite">` and `moz-cite-prefix`, Outlook's top-bordered header block,
`divRplyFwdMsg`, `appendonsend` and `stopSpelling` rule, Yahoo's `yahoo_quoted`, new Outlook's
reference container). The HTML before the first one is kept (tags the cut leaves open are closed
by any HTML parser); a forward, or a cut that would leave no text, keeps the HTML whole.
"""

from __future__ import annotations

import re

_QUOTED = re.compile(
    r"<div\b[^>]*\bclass=[\"']?[^\"'>]*\b(?:gmail_quote|yahoo_quoted|moz-cite-prefix)\b"
    r"|<blockquote\b[^>]*\btype=[\"']?cite"
    r"|<div\b[^>]*\bid=[\"']?(?:divRplyFwdMsg|appendonsend|mail-editor-reference-message-container)"
    r"|<hr\b[^>]*\bid=[\"']?stopSpelling"
    r"|<div\b[^>]*\bstyle=[\"'][^\"'>]*border-top:\s*solid\s+#(?:E1E1E1|B5C4DF)",
    re.I,
)
_FORWARD = re.compile(
    r"forwarded message|weitergeleitete nachricht|message transf[ée]r[ée]|mensaje reenviado"
    r"|doorgestuurd bericht|messaggio inoltrato",
    re.I,
)
_TAG = re.compile(r"<[^>]*>|&nbsp;|\s+")
_LOOK_AHEAD = 2000  # how much of the quoted block is read for a forward marker


def strip_html(html: str | None) -> str | None:
    """`html` without the quoted message (None stays None); unchanged when nothing is quoted."""
    if html is None:
        return None
    match = _QUOTED.search(html)
    if match is None:
        return html
    if _FORWARD.search(_TAG.sub(" ", html[match.start() : match.start() + _LOOK_AHEAD])):
        return html
    kept = html[: match.start()]
    return kept.rstrip() if _TAG.sub("", kept) else html
