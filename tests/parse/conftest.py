"""Helpers for the parser tests: build small synthetic messages as bytes."""

from __future__ import annotations


def eml(*lines: str | bytes, sep: bytes = b"\r\n") -> bytes:
    """Join header/body lines with CRLF (or `sep`); str lines are UTF-8 encoded."""
    return sep.join(x if isinstance(x, bytes) else x.encode("utf-8") for x in lines)
