"""Recipient checks at RCPT (MAILBUS_RECIPIENT_CHECK), so mail nobody handles is refused while
the sender is still connected instead of being stored and dead-lettered.

`router` asks the user's router (loaded at start) whether any route's `to=` can match the address
(or it has a default route): pure and fast, so it runs on the loop. A user's
`check(address, envelope) -> bool | None` runs in a small thread pool of its own when it is a
plain function (awaited when async), under MAILBUS_RECIPIENT_CHECK_TIMEOUT, so a slow or hung
check never stalls other sessions nor the pool that persists messages. False (or no route) →
550 5.1.1; None or an exception → 450 4.2.0; too slow → 451 4.4.3. True/False answers are
cached per address for MAILBUS_RECIPIENT_CHECK_CACHE seconds.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from listener import replies
from mailbus.domains import canonical_address
from mailbus.envelope import Envelope
from mailbus.loader import load_function
from mailbus.logs import log_event
from mailbus.router import load_router
from mailbus.settings import Settings

log = logging.getLogger("mailbus.listener")
CACHE_MAX = 10_000  # addresses; a harvest attack cannot grow the cache without bound
THREADS = 8


class RecipientCheck:
    """`check(address, envelope, session)`: None to accept the recipient, else the reply."""

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        timeout: float,
        cache_ttl: float,
        inline: bool = False,
        name: str = "",
    ) -> None:
        self.function = function
        self.timeout = timeout
        self.cache_ttl = cache_ttl
        self.inline = inline  # the router's own test: no thread, no timeout
        self.name = name or getattr(function, "__qualname__", repr(function))
        self.cache: dict[str, tuple[float, bool]] = {}
        self._pool: ThreadPoolExecutor | None = None

    async def check(self, address: str, envelope: Any, session: Any) -> str | None:
        key = canonical_address(address)
        cached = self.cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return None if cached[1] else replies.NO_MAILBOX.format(address=address)
        if self.inline:
            exists = bool(self.function(address))
        else:
            try:
                verdict = await self._ask(address, _envelope(envelope, session))
            except TimeoutError:
                log_event(log, "rcpt.check_timeout", check=self.name, timeout=self.timeout)
                return replies.TIMED_OUT.format(address=address)
            except Exception as exc:  # the user's check: the sender retries later
                log_event(log, "rcpt.check_failed", level=logging.WARNING, check=self.name,
                          error=f"{type(exc).__name__}: {exc}")  # fmt: skip
                return replies.TRY_LATER.format(address=address)
            if verdict is None:
                return replies.TRY_LATER.format(address=address)
            exists = verdict
        self._remember(key, exists)
        return None if exists else replies.NO_MAILBOX.format(address=address)

    async def _ask(self, address: str, envelope: Envelope) -> bool | None:
        if inspect.iscoroutinefunction(self.function):
            verdict = await asyncio.wait_for(self.function(address, envelope), self.timeout)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="mailbus-rcpt-check")
            call = asyncio.get_running_loop().run_in_executor(
                self._pool, self.function, address, envelope
            )
            verdict = await asyncio.wait_for(call, self.timeout)
            if inspect.isawaitable(verdict):  # a plain def that returned a coroutine
                verdict = await asyncio.wait_for(verdict, self.timeout)
        return None if verdict is None else bool(verdict)

    def _remember(self, key: str, exists: bool) -> None:
        if self.cache_ttl <= 0:
            return
        now = time.monotonic()
        if len(self.cache) >= CACHE_MAX:
            self.cache = {k: v for k, v in self.cache.items() if v[0] > now}
            if len(self.cache) >= CACHE_MAX:
                del self.cache[next(iter(self.cache))]
        self.cache[key] = (now + self.cache_ttl, exists)


def _envelope(envelope: Any, session: Any) -> Envelope:
    """What the transaction said so far, as handlers see it (mailbus.Envelope)."""
    peer = getattr(session, "peer", None)
    return Envelope(
        mail_from=envelope.mail_from or "",
        rcpt_tos=tuple(envelope.rcpt_tos),
        helo=getattr(session, "host_name", None) or "",
        peer=peer[0] if isinstance(peer, tuple) else str(peer or ""),
        smtputf8=bool(envelope.smtp_utf8),
    )


def from_settings(settings: Settings) -> RecipientCheck | None:
    """The check MAILBUS_RECIPIENT_CHECK names, loaded now (a bad path stops the listener at
    start, naming it); None when recipients are not checked."""
    mode = settings.recipient_check
    if mode == "off" or (mode == "router" and settings.webhook_url):  # the webhook takes all
        return None
    timeout, cache_ttl = settings.recipient_check_timeout, settings.recipient_check_cache
    if mode == "router":
        accepts = load_router(settings.handlers or "").accepts
        return RecipientCheck(accepts, timeout=timeout, cache_ttl=cache_ttl, inline=True)
    function = load_function(mode, "MAILBUS_RECIPIENT_CHECK")
    return RecipientCheck(function, timeout=timeout, cache_ttl=cache_ttl, name=mode)
