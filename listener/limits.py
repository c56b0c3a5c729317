"""How much one client, and the process as a whole, may use: connections, rates, DATA bytes.

Clients are keyed by IPv4 address or IPv6 /64 (one host usually owns a whole /64). Counters live
in memory, per listener process, like Postfix's anvil: they are lost on restart, and with
`--processes N` a client spread over N processes by the kernel gets up to N times each rate. That
is the price of never making a limiter a dependency: nothing here can fail, so mail never waits
on it (docs/threat-model.md B09).
"""

from __future__ import annotations

import collections
import functools
import ipaddress
import time
from collections.abc import Callable

from listener import metrics, replies
from mailbus.settings import Settings

RATE_WINDOW = 60.0  # seconds; Postfix anvil_rate_time_unit
ERROR_SLEEP = 1.0  # seconds added before each reply once a session passes the soft error limit
JUNK = frozenset({"NOOP", "RSET", "VRFY", "EXPN", "HELP", "EHLO", "HELO"})  # Postfix's, plus HELO


def client_key(ip: str) -> str:
    """The key one client is counted under: the IPv4 address or the IPv6 /64."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def in_networks(ip: str, networks: tuple[str, ...]) -> bool:
    """Whether `ip` is inside one of `networks` (trusted PROXY senders, exempt clients)."""
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _parsed(networks))


@functools.lru_cache(maxsize=8)
def _parsed(networks: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Each setting's networks parsed once, not on every connection."""
    return tuple(ipaddress.ip_network(net, strict=False) for net in networks)


class RateLimiter:
    """Events per client key in a sliding minute, estimated from two fixed windows.

    The estimate is the current window's count plus the previous window's count weighted by how
    much of it still overlaps the last minute (O(1) memory per key, unlike a list of timestamps).
    All keys share window boundaries, so each roll forgets clients idle for two windows. Refused
    events are not counted: a client over the limit gets back in as its window slides."""

    def __init__(
        self,
        limit: int,
        *,
        window: float = RATE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self.start = clock()
        self.current: collections.Counter[str] = collections.Counter()
        self.previous: collections.Counter[str] = collections.Counter()

    def allow(self, key: str) -> bool:
        """Count one event for `key`; False (nothing counted) if it would pass the limit."""
        if self.limit <= 0:
            return True
        now = self.clock()
        rolled = int((now - self.start) // self.window)
        if rolled:
            self.previous = self.current if rolled == 1 else collections.Counter()
            self.current = collections.Counter()
            self.start += rolled * self.window
        overlap = 1.0 - (now - self.start) / self.window
        if self.previous[key] * overlap + self.current[key] + 1 > self.limit:
            return False
        self.current[key] += 1
        return True


class ConnectionLimits:
    """Open connections, in total and per client key; one instance per listener process."""

    def __init__(self, total: int, per_client: int) -> None:
        self.max_total, self.max_per_client = total, per_client
        self.total = 0
        self.per_client: collections.Counter[str] = collections.Counter()

    def open(self) -> bool:
        if self.total >= self.max_total:
            return False
        self.total += 1
        return True

    def close(self) -> None:
        self.total -= 1

    def open_client(self, key: str) -> bool:
        if self.per_client[key] >= self.max_per_client:
            return False
        self.per_client[key] += 1
        return True

    def close_client(self, key: str) -> None:
        self.per_client[key] -= 1
        if self.per_client[key] <= 0:
            del self.per_client[key]


class Admission:
    """One connection's places in the process's counts: the global slot taken at accept, then
    the per-client slot and rate, judged on the real client (after any PROXY header)."""

    def __init__(self, limits: ConnectionLimits, connection_rate: RateLimiter) -> None:
        self.limits, self.connection_rate = limits, connection_rate
        self.client = "?"  # the key per-client limits count under (client_key)
        self.exempt = False  # inside MAILBUS_LIMIT_EXEMPT: no per-client counts or rates
        self._open = self._counted = False

    def at_accept(
        self, ip: str, settings: Settings, *, host: str, draining: bool, busy: bool
    ) -> tuple[str, str] | None:
        """(reply, reason) refusing a new connection from `ip` before any greeting, or None.
        Behind a PROXY balancer only the balancer is judged here; the client, once its header
        is read (`admit`)."""
        if draining:
            return replies.SHUTTING_DOWN, "draining"
        if busy:
            return replies.TOO_BUSY, "busy"
        self._open = self.limits.open()
        if not self._open:
            return replies.too_many_connections(host, ip), "connections"
        if settings.proxy_protocol != "off":
            if in_networks(ip, settings.proxy_trusted):
                return None
            return replies.proxy_refused(host, ip), "proxy_untrusted"
        reason = self.admit(ip, settings.limit_exempt)
        return (replies.too_many_connections(host, ip), reason) if reason else None

    def admit(self, ip: str, exempt_networks: tuple[str, ...]) -> str | None:
        """Count `ip` as a client: None when admitted, else why not ("per_ip",
        "connection_rate")."""
        self.client = client_key(ip)
        self.exempt = in_networks(ip, exempt_networks)
        if self.exempt:
            return None
        if not self.limits.open_client(self.client):
            return "per_ip"
        if not self.connection_rate.allow(self.client):
            self.limits.close_client(self.client)
            return "connection_rate"
        self._counted = True
        return None

    def release(self) -> None:
        """Give back whatever was taken; safe to call more than once."""
        if self._counted:
            self.limits.close_client(self.client)
            self._counted = False
        if self._open:
            self.limits.close()
            self._open = False


class ErrorCount:
    """One session's errors, counted as Postfix counts them: each 5xx reply, each junk command
    past MAILBUS_JUNK_COMMAND_LIMIT (the junk count restarts when a message is accepted) and
    each recipient past MAILBUS_RECIPIENT_OVERSHOOT_LIMIT. From MAILBUS_SOFT_ERROR_LIMIT every
    4xx/5xx reply waits ERROR_SLEEP; at MAILBUS_HARD_ERROR_LIMIT the session is ended."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.total = self.junk = 0
        self.overshoot = 0  # recipients refused with 452 4.5.3 in this session

    def reply(self, text: str) -> bool:
        """Count `text` if it is a 5xx; True when it must wait ERROR_SLEEP before it is sent."""
        slow = text[:1] in ("4", "5") and self.total >= self.settings.soft_error_limit
        if text[:1] == "5":
            self.total += 1
        return slow

    def command(self, verb: str) -> None:
        if verb in JUNK:
            self.junk += 1
            if self.junk > self.settings.junk_command_limit:
                self.total += 1

    def accepted(self) -> None:
        """A message was accepted: junk before it was the client's business."""
        self.junk = 0

    def overshot(self) -> None:
        """A recipient got 452 4.5.3; the sender should send it again in a new transaction."""
        self.overshoot += 1
        if self.overshoot > self.settings.recipient_overshoot_limit:
            self.total += 1

    @property
    def exhausted(self) -> bool:
        return self.total >= self.settings.hard_error_limit


class ByteBudget:
    """DATA bytes held in memory by all sessions of this process (docs/threat-model.md, B10)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        metrics.INFLIGHT_BYTES.inc(size)
        return True

    def give(self, size: int) -> None:
        self.used -= size
        metrics.INFLIGHT_BYTES.dec(size)

    def fits(self, size: int) -> bool:
        return self.used + size <= self.limit
