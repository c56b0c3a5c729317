"""A 50-route router with conditions (MAILBUS_HANDLERS=bench.routes:router, `--routes`): what
routing costs a worker, and the listener with MAILBUS_RECIPIENT_CHECK=router, next to the one
default route of bench.handlers.

Routes 0-23 name other recipients (only `to=` is tried); routes 24-48 take the bench's
recipients but a condition fails (headers, sender, subject, a `when=`), so every condition kind
is evaluated for every message; route 49 takes the message and does nothing. No default route,
so the listener's check must find that last route.
"""

from __future__ import annotations

from typing import Any

from mailbus import InboundMessage, Router

router = Router()


def _discard(msg: InboundMessage, **captures: Any) -> None:
    """Keep nothing: the bench measures routing, not handlers."""


for n in range(24):
    router.route(to=f"team{n}+{{tag}}@example.com", subject=rf"\bteam {n}\b")(_discard)
for n in range(24, 49):
    condition: dict[str, Any] = [
        {"header": {"X-Team": f"team-{n}"}},
        {"sender": f"*@dept{n}.example"},
        {"subject": rf"\bticket-{n}\b"},
        {"when": lambda msg, n=n: msg.header("X-Ticket") == str(n)},
    ][n % 4]
    router.route(to="bench*@example.com", **condition)(_discard)
router.route(to="bench*@example.com", from_="*")(_discard)
