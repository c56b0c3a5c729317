"""Jinja2 with autoescaping on for every template, and the filters that make attacker-controlled
strings safe to look at: clipped to a readable length, invisible and direction-changing
characters shown as their code points."""

from __future__ import annotations

import datetime
import unicodedata
from pathlib import Path
from typing import Any

import jinja2

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def render(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)


def when(timestamp: Any) -> str:
    if not timestamp:
        return "-"
    moment = datetime.datetime.fromtimestamp(float(timestamp), tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def clip(value: Any, limit: int = 200) -> str:
    text = "" if value is None else str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def visible(value: Any) -> str:
    """Control, format (RTL override, zero-width) and other invisible characters as <U+XXXX>."""
    text = "" if value is None else str(value)
    return "".join(
        f"<U+{ord(c):04X}>" if unicodedata.category(c) in ("Cc", "Cf", "Co", "Cn") else c
        for c in text
    )


def size(value: Any) -> str:
    if value is None:
        return "-"
    number = float(value)
    for unit in ("B", "KB", "MB"):
        if number < 1024 or unit == "MB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1024
    return str(value)


_env.filters.update(when=when, clip=clip, visible=visible, size=size)
