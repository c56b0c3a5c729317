"""What a route asks of a message beyond its envelope recipient: `sender=`, `from_=`,
`subject=`, `header=` and `when=`, all of which must hold.

Addresses (`sender=` on the envelope MAIL FROM, `from_=` on the From: address) take a glob or a
compiled regex that must match the whole address, like `to=`; `sender="<>"` matches the null
sender of bounces. `subject=` is a regex searched in the decoded subject (a string is compiled
case-insensitively). `header={"X-Name": glob|regex}` holds when any header of that name matches:
a glob the whole decoded value, a regex searched in it. `when=` is the user's own test of the
parsed message; whatever it raises propagates to the dispatch, which fails that route's run.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mailbus import aio
from mailbus.domains import canonical_address
from mailbus.globs import compile_glob, compile_text_glob

Pattern = str | re.Pattern[str]


@dataclass(frozen=True)
class Conditions:
    """A route's conditions on the message; equal conditions compare equal (duplicate routes)."""

    sender: re.Pattern[str] | None = None
    from_: re.Pattern[str] | None = None
    subject: re.Pattern[str] | None = None
    header: tuple[tuple[str, re.Pattern[str], bool], ...] = ()  # name, pattern, whole value
    when: Callable[[Any], Any] | None = None
    shown: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def build(
        cls,
        *,
        sender: Pattern | None = None,
        from_: Pattern | None = None,
        subject: Pattern | None = None,
        header: Mapping[str, Pattern] | None = None,
        when: Callable[[Any], Any] | None = None,
    ) -> Conditions:
        named = (("sender", sender), ("from_", from_), ("subject", subject))
        shown = [f"{name}={_show(value)}" for name, value in named if value is not None]
        headers: list[tuple[str, re.Pattern[str], bool]] = []
        for name, value in (header or {}).items():
            if isinstance(value, str):
                headers.append((name.lower(), compile_text_glob(value), True))
            else:
                headers.append((name.lower(), value, False))
            shown.append(f"header[{name}]={_show(value)}")
        if when is not None:
            if not callable(when):
                raise TypeError(f"when= takes a function of the message, not {when!r}")
            shown.append(f"when={getattr(when, '__qualname__', repr(when))}")
        return cls(
            sender=_address_pattern(sender, null="<>"),
            from_=_address_pattern(from_),
            subject=re.compile(subject, re.IGNORECASE) if isinstance(subject, str) else subject,
            header=tuple(headers),
            when=when,
            shown=tuple(shown),
        )

    def __bool__(self) -> bool:
        return bool(self.shown)

    def holds(self, msg: Any) -> bool:
        """Whether `msg` (an InboundMessage) meets every condition; `when=` may raise."""
        if self.sender is not None and not _address_matches(self.sender, msg.envelope.mail_from):
            return False
        if self.from_ is not None:
            found = msg.from_.email if msg.from_ is not None else ""
            if not _address_matches(self.from_, found):
                return False
        if self.subject is not None and not self.subject.search(msg.subject or ""):
            return False
        for name, pattern, whole in self.header:
            values = [h.value for h in msg.headers if h.name.lower() == name]
            test = pattern.fullmatch if whole else pattern.search
            if not any(test(value) for value in values):
                return False
        if self.when is None:
            return True
        verdict = self.when(msg)
        if inspect.isawaitable(verdict):  # an async def when=: run like an async handler
            verdict = aio.complete(verdict)
        return bool(verdict)


def _address_pattern(value: Pattern | None, null: str | None = None) -> re.Pattern[str] | None:
    if value is None or isinstance(value, re.Pattern):
        return value
    if null is not None and value == null:
        return re.compile("")  # the null reverse-path: only the empty MAIL FROM
    return compile_glob(value)


def _address_matches(pattern: re.Pattern[str], address: str) -> bool:
    address = address or ""
    return bool(pattern.fullmatch(canonical_address(address) if address else address))


def _show(value: Pattern) -> str:
    return f"/{value.pattern}/" if isinstance(value, re.Pattern) else repr(value)
