"""Before the first command: the 220, and what happens to a client that talks before it.

With MAILBUS_GREET_WAIT the banner is split: a `220-` teaser, the wait, then the `220`. A client
that sends anything during the wait did not wait for the greeting, as spam bots do (Postfix's
postscreen pregreet test; docs/threat-model.md A10). MAILBUS_GREET_ACTION says what follows:
`drop` (the session closes it with 521 5.5.1), `enforce` (served, but the gate answers every
RCPT with 550 5.5.1) or `ignore` (logged and counted only).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from listener.context import ListenerContext
from mailbus.logs import escape, log_event

log = logging.getLogger("mailbus.listener")


class Line(Protocol):
    """What the greeting uses of its session (the session satisfies it; no import of it here)."""

    hostname: str
    peer_ip: str

    def peek(self, size: int) -> bytes: ...
    async def send_raw(self, line: str) -> None: ...


class Greeting:
    def __init__(self, ctx: ListenerContext) -> None:
        self.ctx = ctx
        self.pregreeted = False  # talked before the 220, with MAILBUS_GREET_ACTION=enforce

    async def send(self, line: Line) -> bool:
        """Say 220 (after the wait, if any); False when the client is to be dropped instead."""
        settings, banner = self.ctx.settings, f"220 {line.hostname} ESMTP mailbus"
        if settings.greet_wait > 0:
            await line.send_raw(banner.replace("220 ", "220-", 1))
            await asyncio.sleep(settings.greet_wait)
            early = line.peek(100)
            if early:
                action = settings.greet_action
                log_event(log, "session.pregreet", peer=line.peer_ip, first=escape(early),
                          action=action)  # fmt: skip
                self.ctx.count("pregreet")
                if action == "drop":
                    return False
                self.pregreeted = action == "enforce"
        await line.send_raw(banner)
        return True
