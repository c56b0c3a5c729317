"""Address globs: `support@example.com`, `*@help.example.com`, `reply+{ticket}@example.com`.

`*` is any run of characters, `?` one character, `{name}` a captured run without `@`. A glob
matches case-insensitively and compares domains in their canonical A-label form (non-ASCII labels
of the glob are converted once, here), as recipients are (mailbus.domains).
"""

from __future__ import annotations

import re

from mailbus.domains import canonical_domain
from mailbus.errors import HandlerLoadError

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def compile_glob(pattern: str) -> re.Pattern[str]:
    """The regex (for `fullmatch`) of an address glob, `{name}` placeholders as named groups."""
    pattern = _canonical_glob_domain(pattern)
    parts: list[str] = []
    position = 0
    for placeholder in _PLACEHOLDER.finditer(pattern):
        parts.append(_glob_to_regex(pattern[position : placeholder.start()]))
        parts.append(f"(?P<{placeholder.group(1)}>[^@]+?)")
        position = placeholder.end()
    parts.append(_glob_to_regex(pattern[position:]))
    return re.compile("".join(parts), re.IGNORECASE)


def compile_text_glob(pattern: str) -> re.Pattern[str]:
    """The regex of a glob on free text (a header value): `*` and `?` only, case-insensitive."""
    return re.compile(_glob_to_regex(pattern), re.IGNORECASE | re.DOTALL)


def _canonical_glob_domain(pattern: str) -> str:
    """The glob with the non-ASCII labels of its domain in A-label form, as recipients are."""
    local, at, domain = pattern.rpartition("@")
    if not at or domain.isascii():
        return pattern
    labels = []
    for label in domain.split("."):
        if not label.isascii():
            if any(char in label for char in "*?{}"):
                raise HandlerLoadError(
                    f"route {pattern!r}: a wildcard or placeholder inside the non-ASCII label "
                    f"{label!r} cannot match; write the label in full or in its xn-- form"
                )
            label = canonical_domain(label) or label.lower()
        labels.append(label)
    return f"{local}@{'.'.join(labels)}"


def _glob_to_regex(text: str) -> str:
    return "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in text
    )
