"""Test helpers for people writing handlers, like Rails Action Mailbox's `receive_inbound_email`.

`deliver(router, eml_bytes, to=...)` parses the message and routes it in-process, exactly as a
worker would (same parser, same router, same dispatch semantics), and tells you which handlers
ran with which arguments. No Redis, no SMTP, no store. In pytest, either import `deliver`, or
enable the fixture with `pytest_plugins = ["mailbus.testing"]` in your top-level conftest.py and
ask for `mailbus_deliver`:

    def test_ticket_reply(mailbus_deliver):
        delivery = mailbus_deliver(router, Path("reply.eml").read_bytes(),
                                   to="reply+42@help.example.com")
        assert delivery.ran(add_comment)
        assert delivery.kwargs(add_comment) == {"ticket": "42"}

A route that captures runs once per distinct capture set: `delivery.runs(add_comment)` lists
each run with the recipient that chose it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from mailbus.dispatch import dispatch, plan
from mailbus.envelope import Envelope
from mailbus.message import InboundMessage
from mailbus.parse import parse
from mailbus.router import Match, Router, handler_name
from mailbus.trace import trace_headers

__all__ = ["Call", "Delivery", "deliver", "mailbus_deliver"]


@dataclass(frozen=True)
class Call:
    """One handler call: the function, its name, the recipient that routed to it, its kwargs."""

    handler: Callable[..., Any]
    name: str
    recipient: str | None
    kwargs: dict[str, str]


@dataclass
class Delivery:
    """What `deliver` did: the parsed message, the calls made, and any handler failures."""

    message: InboundMessage
    calls: list[Call] = field(default_factory=list)
    errors: list[tuple[Call, BaseException]] = field(default_factory=list)

    @property
    def handlers(self) -> list[Callable[..., Any]]:
        return [call.handler for call in self.calls]

    def ran(self, handler: Callable[..., Any]) -> bool:
        """Whether `handler` was called (successfully or not)."""
        return any(_same(call, handler) for call in self.calls)

    def kwargs(self, handler: Callable[..., Any]) -> dict[str, str]:
        """The keyword arguments of `handler`'s first run (its route's captures)."""
        return self.runs(handler)[0].kwargs

    def runs(self, handler: Callable[..., Any]) -> list[Call]:
        """Every run of `handler`, in order: one per distinct set of captures (fan-out)."""
        runs = [call for call in self.calls if _same(call, handler)]
        if not runs:
            raise AssertionError(f"{handler_name(handler)} did not run; ran: {self.names}")
        return runs

    @property
    def names(self) -> list[str]:
        return [call.name for call in self.calls]


def _same(call: Call, handler: Callable[..., Any]) -> bool:
    return call.handler is handler or call.name == handler_name(handler)


def deliver(
    router: Router,
    eml: bytes | str,
    *,
    to: str | Iterable[str] | None = None,
    mail_from: str | None = None,
    raise_errors: bool = True,
) -> Delivery:
    """Parse `eml` and run the handlers its envelope recipients route to.

    `to` defaults to the message's To: and Cc: addresses, `mail_from` to its From: address.
    A route-less message raises NoRouteError like the worker would dead-letter it. A handler's
    exception is re-raised after its siblings ran (the worker's semantics); pass
    `raise_errors=False` to inspect `Delivery.errors` instead.
    """
    raw = eml.encode("utf-8") if isinstance(eml, str) else eml
    headers_only = parse(raw)
    if to is None:
        rcpts = [a.email for a in [*headers_only.to, *headers_only.cc] if a.email]
    else:
        rcpts = [to] if isinstance(to, str) else list(to)
    if mail_from is None:
        mail_from = headers_only.from_.email if headers_only.from_ is not None else ""
    envelope = Envelope(mail_from=mail_from, rcpt_tos=tuple(rcpts), helo="mailbus.testing")
    stored = _as_stored(raw, envelope)
    msg = parse(stored, envelope, msg_id="test", raw_key="raw/test")
    msg.raw = replace(msg.raw, _reader=lambda: stored)
    delivery = Delivery(message=msg)
    matches = plan(router, rcpts, msg)

    def call_of(match: Match) -> Call:
        return Call(match.handler, match.name, match.recipient, dict(match.kwargs))

    def recorded(match: Match) -> bool:
        delivery.calls.append(call_of(match))
        return False  # never "already done": every matching handler runs

    def failed(match: Match, exc: BaseException) -> None:
        delivery.errors.append((call_of(match), exc))

    try:
        dispatch(matches, msg, done=recorded, on_failure=failed)
    except Exception:
        if raise_errors:
            raise
    return delivery


def _as_stored(raw: bytes, envelope: Envelope) -> bytes:
    """The bytes as the listener stores them (trace block first), so `msg.headers`, `msg.raw` and
    `msg.defects` are what a worker sees; an .eml saved with LF line ends gets SMTP's CRLF."""
    if b"\r\n" not in raw:
        raw = raw.replace(b"\n", b"\r\n")
    return trace_headers(envelope, "test", "mailbus.testing") + raw


try:
    import pytest
except ImportError:  # pytest is optional: the fixture exists only where pytest does
    pass
else:

    @pytest.fixture
    def mailbus_deliver() -> Callable[..., Delivery]:
        """The `deliver` function as a fixture (enable with pytest_plugins)."""
        return deliver
