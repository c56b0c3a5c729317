"""One SMTP connection: admission, the command loop, timers, error limits and drain.

`Session` subclasses aiosmtpd's `SMTP` protocol but runs its own command loop, because the
stock one resets its timer only on valid commands, never counts errors, lets bare-LF commands and
unadvertised pipelining through, and turns exceptions into a permanent 500 with the exception
text. Every reply passes through `push`, which adds the enhanced status code and counts errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, cast

from aiosmtpd.smtp import SMTP, TLSSetupException

from listener import metrics, replies
from listener.commands import safe
from listener.context import ListenerContext
from listener.limits import ERROR_SLEEP, client_key, in_networks
from listener.proxy import greet
from listener.transaction import READ_SIZE, Transaction
from mailbus.logs import log_event

log = logging.getLogger("mailbus.listener")
JUNK = frozenset({"NOOP", "RSET", "VRFY", "EXPN", "HELP", "EHLO", "HELO"})
ENDS_GROUP = frozenset({"EHLO", "HELO", "DATA", "VRFY", "EXPN", "NOOP"})  # RFC 2920 §3.1
NON_SMTP = frozenset({"GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS", "USER"})
COMMAND_MAX, MAIL_MAX = 512, 600  # with CRLF; MAIL may carry SIZE/BODY/SMTPUTF8 after EHLO
# How a client that never sent a line can end: a health check (B15), logged at debug only.
PROBE_ENDS = frozenset({"client", "eof", "ConnectionResetError", "IncompleteReadError"})


class Session(Transaction):
    line_length_limit = READ_SIZE  # sizes aiosmtpd's StreamReader: bulk DATA reads, 128 KiB cap

    def __dir__(self) -> list[str]:
        """Only the smtp_/handle_ names we serve: aiosmtpd's __init__ scans dir() of the session
        (four times, as protocol and as handler) on every connection, which cost more than a
        whole 2 KB message's persist; the class's names never change, so they are listed once.
        An MX takes no AUTH, so neither smtp_AUTH nor the auth_ mechanisms are listed: AUTH is
        "command not recognized"."""
        return list(_HOOK_NAMES)

    def __init__(self, ctx: ListenerContext) -> None:
        settings = ctx.settings
        super().__init__(
            self,
            data_size_limit=settings.max_message_size,
            enable_SMTPUTF8=True,
            hostname=settings.hostname,
            ident="ESMTP mailbus",
            tls_context=ctx.tls_context,
            timeout=settings.timeout,
        )
        self.ctx = ctx
        self.errors = self.overshoot = self.junk = self.messages = self.held = 0
        self.phase = "greeting"
        self.peer_ip, self.peer_port = "?", 0
        self.client, self.exempt = "?", False
        self.notes = set()
        self.started = time.monotonic()
        self.close_reason = "client"
        self._admitted = self._counted = self.spoke = False
        self.pregreeted = False  # talked before the greeting, MAILBUS_GREET_ACTION=enforce

    # -- connection lifecycle -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is not None and self._original_transport is not None:
            assert self.session is not None  # STARTTLS done: keep the (proxied) peer
            peer, proxy = self.session.peer, self.session.proxy_data
            super().connection_made(transport)
            self.session.peer, self.session.proxy_data = peer, proxy
            self.phase = "idle"
            return
        ctx, host = self.ctx, self.hostname
        address: Any = transport.get_extra_info("peername") or ("?", 0)
        self.peer_ip, self.peer_port = str(address[0]), int(address[1])
        refusal, reason = None, ""
        if ctx.draining:
            refusal, reason = replies.SHUTTING_DOWN, "draining"
        elif ctx.lag.busy:
            refusal, reason = replies.TOO_BUSY, "busy"
        elif not ctx.limits.open():
            refusal, reason = replies.too_many_connections(host, self.peer_ip), "connections"
        else:
            self._admitted = True
            if ctx.settings.proxy_protocol != "off":
                if not in_networks(self.peer_ip, ctx.settings.proxy_trusted):
                    refusal, reason = replies.proxy_refused(host, self.peer_ip), "proxy_untrusted"
            else:
                reason = self.admit_client() or ""
                if reason:
                    refusal = replies.too_many_connections(host, self.peer_ip)
        if refusal is not None:
            self.count(reason)
            log_event(log, "session.refused", peer=self.peer_ip, reason=reason)
            _write(transport, refusal)
            transport.close()
            self._release()
            self.phase = "refused"
            return
        ctx.sessions.add(self)
        metrics.CONNECTIONS.inc()
        super().connection_made(transport)

    def admit_client(self) -> str | None:
        """Per-client connection count and rate, on the real client (after any PROXY header):
        None when admitted, else the reason ("per_ip" or "connection_rate")."""
        settings = self.ctx.settings
        self.client = client_key(self.peer_ip)
        self.exempt = in_networks(self.peer_ip, settings.limit_exempt)
        if self.exempt:
            return None
        if not self.ctx.limits.open_client(self.client):
            return "per_ip"
        if not self.ctx.connection_rate.allow(self.client):
            self.ctx.limits.close_client(self.client)
            return "connection_rate"
        self._counted = True
        return None

    def _release(self) -> None:
        if self._counted:
            self.ctx.limits.close_client(self.client)
            self._counted = False
        if self._admitted:
            self.ctx.limits.close()
            self._admitted = False

    def connection_lost(self, error: Exception | None) -> None:
        if self.phase in ("refused", "lost"):
            return
        self._release()
        if self in self.ctx.sessions:
            self.ctx.sessions.discard(self)
            metrics.CONNECTIONS.dec()
            if not self.spoke and self.close_reason in PROBE_ENDS:
                self.close_reason = "probe"
            metrics.SESSIONS.labels(self.close_reason.split()[0]).inc()
            log_event(
                log,
                "session.end",
                level=logging.DEBUG if self.close_reason == "probe" else logging.INFO,
                peer=f"{self.peer_ip}:{self.peer_port}",
                helo=safe(self.session.host_name or "") if self.session else "",
                tls=self._tls_protocol is not None,
                messages=self.messages,
                errors=self.errors,
                junk=self.junk,
                phase=self.phase,
                reason=self.close_reason,
                notes=sorted(self.notes),
                seconds=round(time.monotonic() - self.started, 3),
            )
        self.phase = "lost"
        super().connection_lost(error)

    def _hang_up(self, error: Exception) -> None:
        for transport in (self.transport, self._original_transport):
            if transport is not None:
                transport.close()
        if self._tls_protocol is not None and self.session and self.session.ssl is None:
            self.connection_lost(error)  # a failed handshake never reaches connection_lost

    def eof_received(self) -> bool | None:
        """Half-close: finish the replies (and any persist) instead of cancelling like aiosmtpd."""
        asyncio.StreamReaderProtocol.eof_received(self)
        return False if self._tls_protocol is not None else True

    def _timeout_cb(self) -> None:
        self.count("timeout")
        self.close_reason = f"timeout in {self.phase}"
        if self.transport is not None:
            if self.phase != "tls":
                _write(self.transport, replies.timeout(self.hostname))
            self.transport.close()

    def shut(self, *, only_idle: bool) -> None:
        """Drain: say 421 4.3.2 and close, now if idle, or at the grace deadline regardless."""
        idle = self.phase in ("idle", "greeting")
        if self.transport is None or (only_idle and not idle) or self.phase == "persist":
            return
        self.close_reason = "shutdown"
        _write(self.transport, replies.SHUTTING_DOWN)
        self.transport.close()

    # -- replies --------------------------------------------------------------------------
    async def push(self, status: Any) -> None:
        text = replies.enhance(status) if isinstance(status, str) else status.decode()
        if text[:1] in ("4", "5") and self.errors >= self.ctx.settings.soft_error_limit:
            await asyncio.sleep(ERROR_SLEEP)  # Postfix smtpd_error_sleep_time
        if text[:1] == "5":
            self.errors += 1
        await SMTP.push(self, text)

    async def handle_exception(self, error: Exception) -> str:
        """Never a 5xx with exception text: log it, tell the client to come back later."""
        log_event(log, "session.error", level=logging.ERROR, peer=self.peer_ip, exc_info=error)
        return replies.internal_error(self.hostname)

    async def close_with(self, reply: str, reason: str) -> None:
        self.count(reason)
        self.close_reason = reason
        await SMTP.push(self, reply)
        if self.transport is not None:
            self.transport.close()

    # -- the command loop -----------------------------------------------------------------
    async def _handle_client(self) -> None:
        try:
            if not await greet(self):
                return
            while self.transport is not None:
                if self.ctx.draining:
                    await self.close_with(replies.SHUTTING_DOWN, "draining")
                    return
                if self.too_many_errors():
                    await self.close_with(replies.too_many_errors(self.hostname), "errors")
                    return
                self.phase = "idle"
                line = await self._read_line()
                if line is None:
                    self.close_reason = "eof"
                    self.transport.close()
                    return
                self.spoke = True
                self.phase = "command"
                if line:
                    self.arm()
                    await self._dispatch(line)
        except (ConnectionError, TLSSetupException, asyncio.IncompleteReadError) as exc:
            self.close_reason = type(exc).__name__
            self._hang_up(exc)
        except Exception as error:
            reply = await self.handle_exception(error)
            if self.transport is not None:
                await self.close_with(reply, "internal_error")

    async def _dispatch(self, line: bytes) -> None:
        assert self.session is not None
        if not line.endswith(b"\r\n"):
            self.notes.add("bare_lf")
            if self.ctx.settings.bare_lf == "reject":
                await self.close_with(replies.BARE_LF, "bare_lf")
                return
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        verb_bytes, _, arg_bytes = line.partition(b" ")
        try:
            verb = verb_bytes.decode("ascii").upper()
        except UnicodeDecodeError:
            verb = ""
        self.verb = verb
        if not verb.isalpha() and not verb.endswith(":"):
            await self.push(replies.BAD_SYNTAX)
            return
        if verb in NON_SMTP or verb.endswith(":"):
            log_event(log, "session.non_smtp", peer=self.peer_ip, line=safe(line))
            await self.close_with(replies.NON_SMTP, "non_smtp")
            return
        limit = MAIL_MAX if verb == "MAIL" and self.session.extended_smtp else COMMAND_MAX
        if len(line) + 2 > limit:
            await self.push(replies.COMMAND_TOO_LONG)
            return
        if self._reader._buffer and verb not in ("QUIT", "STARTTLS"):  # type: ignore[attr-defined]
            if not self.session.extended_smtp or verb in ENDS_GROUP:
                log_event(log, "session.pipelining", peer=self.peer_ip, verb=verb)
                await self.close_with(replies.SYNC_ERROR, "pipelining")
                return
        method = self._smtp_methods.get(verb)
        if method is None:
            self.count("unknown_command")
            await self.push(replies.UNKNOWN_COMMAND)
            return
        if verb in JUNK:
            self.junk += 1
            if self.junk > self.ctx.settings.junk_command_limit:
                self.errors += 1
        arg = arg_bytes.strip().decode("utf-8", "surrogateescape") or None
        await method(arg)


def _write(transport: asyncio.BaseTransport, reply: str) -> None:
    """A reply written without waiting: refusals, timeouts and drain, just before close."""
    if not transport.is_closing():
        with contextlib.suppress(AttributeError, RuntimeError):  # a TLS layer already torn down
            cast(asyncio.WriteTransport, transport).write(reply.encode() + b"\r\n")


_HOOK_NAMES = tuple(
    n for n in dir(Session) if n.startswith(("smtp_", "handle_")) and n != "smtp_AUTH"
)
