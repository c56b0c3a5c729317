"""What all sessions of one listener process share: settings, persister, limits, guards, counters.

One instance per process (no module globals), built by `server.start_server` and handed to each
session, so tests can run several independent listeners in one interpreter.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from dataclasses import dataclass, field
from typing import Protocol

from listener import metrics
from listener.limits import ByteBudget, ConnectionLimits, RateLimiter
from listener.load import Backlog, LoopLag
from listener.persist import Persister
from listener.policy import Domains
from listener.recipients import RecipientCheck, from_settings
from mailbus.settings import Settings


class Open(Protocol):
    """What a drain needs of an open session (the session satisfies it; no import of it here)."""

    @property
    def transport(self) -> asyncio.BaseTransport | None: ...
    def shut(self, *, only_idle: bool) -> None: ...


@dataclass
class ListenerContext:
    settings: Settings
    persister: Persister
    domains: Domains
    limits: ConnectionLimits
    budget: ByteBudget
    connection_rate: RateLimiter
    message_rate: RateLimiter
    recipient_rate: RateLimiter
    tls_rate: RateLimiter
    lag: LoopLag
    backlog: Backlog
    tls_context: ssl.SSLContext | None = None
    recipients: RecipientCheck | None = None  # MAILBUS_RECIPIENT_CHECK; None when off
    draining: bool = False
    sessions: set[Open] = field(default_factory=set)
    # Rejections by reason, also exported as mailbus_listener_rejections_total; logged at shutdown.
    counters: collections.Counter[str] = field(default_factory=collections.Counter)
    # DATA phases by outcome (accepted, rejected, failed), which the heartbeat reports to Redis.
    messages: collections.Counter[str] = field(default_factory=collections.Counter)

    def count(self, reason: str) -> None:
        """One rejection (or other notable end) of `reason`, in the counters and the metrics."""
        self.counters[reason] += 1
        metrics.REJECTIONS.labels(reason).inc()

    @classmethod
    def build(
        cls, settings: Settings, persister: Persister, tls_context: ssl.SSLContext | None
    ) -> ListenerContext:
        return cls(
            settings=settings,
            persister=persister,
            domains=Domains(settings.domains),
            limits=ConnectionLimits(settings.max_connections, settings.max_connections_per_ip),
            budget=ByteBudget(settings.max_inflight_bytes),
            connection_rate=RateLimiter(settings.connection_rate_limit),
            message_rate=RateLimiter(settings.message_rate_limit),
            recipient_rate=RateLimiter(settings.recipient_rate_limit),
            tls_rate=RateLimiter(settings.tls_session_rate_limit),
            lag=LoopLag(settings.max_loop_lag),
            backlog=Backlog(settings, persister.connection),
            tls_context=tls_context,
            recipients=from_settings(settings),
        )
