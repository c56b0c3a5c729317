"""`mailbus routes`: the user's routes in the order they are tried, and with `--test ADDRESS`
which handlers a message would run and with which arguments, without Redis or a worker.

The test message is FILE.eml when given, else a minimal one built from `--from` and
`--subject`; the routes' conditions (`when=` too) are tried on it exactly as a worker would.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from mailbus.envelope import Envelope
from mailbus.errors import ConfigError
from mailbus.parse import parse
from mailbus.router import Match, Router, load_router
from mailbus.settings import Settings
from mailbus.trace import trace_headers


def routes(
    settings: Settings,
    *,
    test: list[str] | None,
    mail_from: str | None,
    subject: str | None,
    file: str | None,
) -> int:
    if not settings.handlers:
        raise ConfigError(["MAILBUS_HANDLERS is not set: there are no routes to show. Set it to "
                           "your router, e.g. MAILBUS_HANDLERS=myapp.mail:router"])  # fmt: skip
    router = load_router(settings.handlers)
    if not test:
        _print_routes(router)
        return 0
    raw = _message(test, mail_from, subject, file)
    if mail_from == "<>":  # the null sender of bounces
        mail_from = ""
    elif mail_from is None:
        found = parse(raw).from_
        mail_from = found.email if found is not None else ""
    envelope = Envelope(mail_from=mail_from, rcpt_tos=tuple(test), helo="mailbus.routes")
    stored = trace_headers(envelope, "routes", "mailbus.routes") + raw
    msg = parse(stored, envelope, msg_id="routes", raw_key="raw/routes")
    msg.raw = replace(msg.raw, _reader=lambda: stored)
    matches = router.match(test, msg)
    if not matches:
        print(f"no route matches {', '.join(test)} and there is no default route: "
              "the message would be dead-lettered")  # fmt: skip
        return 1
    for match in matches:
        print(_call(match))
    return 0


def _print_routes(router: Router) -> None:
    if not router.routes and router.default_handler is None:
        print("no routes: every message would be dead-lettered")
    for number, route in enumerate(router.routes, 1):
        print(f"{number:>3}. {route.name}  {route.describe()}")
    if router.default_handler is not None:
        print(f"default: {Match(router.default_handler, None, {}).name}  (when no route matches)")


def _call(match: Match) -> str:
    arguments = "".join(f", {k}={v!r}" for k, v in match.kwargs.items())
    chosen = f"  for {match.recipient}" if match.recipient else "  (default route)"
    failed = (
        f"  FAILS: when= raised {type(match.error).__name__}: {match.error}" if match.error else ""
    )
    return f"{match.name}(msg{arguments}){chosen}{failed}"


def _message(to: list[str], mail_from: str | None, subject: str | None, file: str | None) -> bytes:
    if file is not None:
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        return raw if b"\r\n" in raw else raw.replace(b"\n", b"\r\n")
    lines = [f"From: {mail_from or 'sender@example.org'}", f"To: {', '.join(to)}",
             f"Subject: {subject or ''}", "", ""]  # fmt: skip
    return "\r\n".join(lines).encode()
