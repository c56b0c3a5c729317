"""One SMTP connection: admission, greeting, the command loop and every command, timers, drain.

`Session` builds on aiosmtpd's protocol (seen through `listener.protocol`) but runs its own
command loop, because the stock one resets its timer only on valid commands, never counts
errors, lets bare-LF commands and unadvertised pipelining through, and turns exceptions into a
permanent 500 with the exception text. Every reply passes through `push`, which adds the
enhanced status code and counts errors. The session owns small helpers for the cohesive parts:
an `Admission` and an `ErrorCount` (limits.py), a `Greeting` (greeting.py), a `Gate` (gate.py,
its aiosmtpd handler) that decides MAIL, RCPT and STARTTLS and, per message, a `Transfer`
(data.py) for everything after DATA; commands.py vets command lines, proxy.py reads PROXY.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiosmtpd.smtp import TLSSetupException

from listener import commands, metrics, proxy, replies, tls
from listener.context import ListenerContext
from listener.data import READ_SIZE, Transfer, envelope_of, refusal
from listener.gate import Gate
from listener.greeting import Greeting
from listener.limits import ERROR_SLEEP, Admission, ErrorCount
from listener.policy import check_text
from listener.protocol import SmtpProtocol
from mailbus.logs import escape, log_event

log = logging.getLogger("mailbus.listener")
# How a client that never sent a line can end: a health check (docs/threat-model.md B15),
# logged at debug only.
PROBE_ENDS = frozenset({"client", "eof", "ConnectionResetError", "IncompleteReadError"})


class Session(SmtpProtocol):
    line_length_limit = READ_SIZE  # sizes aiosmtpd's StreamReader: bulk DATA reads, 128 KiB cap

    def __init__(self, ctx: ListenerContext) -> None:
        settings = ctx.settings
        self.admission = Admission(ctx.limits, ctx.connection_rate)
        self.errors = ErrorCount(settings)
        self.greeting = Greeting(ctx)
        self.gate = Gate(ctx, self.admission, self.errors, self.greeting)
        super().__init__(
            self.gate,
            data_size_limit=settings.max_message_size,
            enable_SMTPUTF8=True,
            hostname=settings.hostname,
            ident="ESMTP mailbus",
            tls_context=ctx.tls_context,
            timeout=settings.timeout,
        )
        self.ctx = ctx
        self.messages = 0
        self.phase = "greeting"
        self.peer_ip, self.peer_port = "?", 0
        self.notes: set[str] = set()
        self.started = time.monotonic()
        self.close_reason = "client"
        self.spoke = False
        self.verb = ""  # the last command's verb, for the too-many-errors warning
        self.message_id: str | None = None  # the message between 354 and its final reply

    # -- connection lifecycle -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.upgraded:  # the TLS transport after STARTTLS: the same client, a new layer
            super().connection_made(transport)
            self.phase = "idle"
            return
        ctx = self.ctx
        address: Any = transport.get_extra_info("peername") or ("?", 0)
        self.peer_ip, self.peer_port = str(address[0]), int(address[1])
        refused = self.admission.at_accept(self.peer_ip, ctx.settings, host=self.hostname,
                                           draining=ctx.draining, busy=ctx.lag.busy)  # fmt: skip
        if refused is not None:
            reply, reason = refused
            self.ctx.count(reason)
            log_event(log, "session.refused", peer=self.peer_ip, reason=reason)
            self.write_and_close(reply, transport)
            self.admission.release()
            self.phase = "refused"
            return
        ctx.sessions.add(self)
        metrics.CONNECTIONS.inc()
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self.phase in ("refused", "lost"):
            return
        self.admission.release()
        if self in self.ctx.sessions:
            self.ctx.sessions.discard(self)
            metrics.CONNECTIONS.dec()
            if not self.spoke and self.close_reason in PROBE_ENDS:
                self.close_reason = "probe"
            metrics.SESSIONS.labels(self.close_reason.split()[0]).inc()
            level = logging.DEBUG if self.close_reason == "probe" else logging.INFO
            helo = escape(self.session.host_name or "") if self.session else ""
            log_event(log, "session.end", level=level, id=self.message_id,
                      peer=f"{self.peer_ip}:{self.peer_port}", helo=helo, tls=self.tls_active,
                      messages=self.messages, errors=self.errors.total, junk=self.errors.junk,
                      phase=self.phase, reason=self.close_reason, notes=sorted(self.notes),
                      seconds=round(time.monotonic() - self.started, 3))  # fmt: skip
        self.phase = "lost"
        super().connection_lost(error)

    def on_timeout(self) -> None:
        self.ctx.count("timeout")
        self.close_reason = f"timeout in {self.phase}"
        timeout = replies.with_id(replies.timeout(self.hostname), self.message_id)
        self.write_and_close(None if self.phase == "tls" else timeout)

    def shut(self, *, only_idle: bool) -> None:
        """Drain: say 421 4.3.2 and close, now if idle, or at the grace deadline regardless."""
        idle = self.phase in ("idle", "greeting")
        if self.transport is None or (only_idle and not idle) or self.phase == "persist":
            return
        self.close_reason = "shutdown"
        self.write_and_close(replies.with_id(replies.SHUTTING_DOWN, self.message_id))

    # -- replies and counts ---------------------------------------------------------------
    async def push(self, status: Any) -> None:
        text = replies.enhance(status) if isinstance(status, str) else status.decode()
        if self.errors.reply(text):
            await asyncio.sleep(ERROR_SLEEP)  # Postfix smtpd_error_sleep_time
        await self.send_raw(text)

    async def handle_exception(self, error: Exception) -> str:
        """Never a 5xx with exception text: log it, tell the client to come back later."""
        log_event(log, "session.error", level=logging.ERROR, id=self.message_id,
                  peer=self.peer_ip, exc_info=error)  # fmt: skip
        return replies.with_id(replies.internal_error(self.hostname), self.message_id)

    async def close_with(self, reply: str, reason: str) -> None:
        self.ctx.count(reason)
        self.close_reason = reason
        await self.send_raw(reply)
        if self.transport is not None:
            self.transport.close()

    def too_many_errors(self) -> bool:
        """At MAILBUS_HARD_ERROR_LIMIT: a warning with who and what came last (the caller says
        421 and closes), so an operator sees why the session ended."""
        if not self.errors.exhausted:
            return False
        log_event(log, "session.too_many_errors", level=logging.WARNING, peer=self.peer_ip,
                  errors=self.errors.total, verb=escape(self.verb))  # fmt: skip
        return True

    # -- before the first command ---------------------------------------------------------
    async def _greet(self) -> bool:
        """The PROXY header if configured, then the greeting; False when the session is over."""
        if self.ctx.settings.proxy_protocol != "off" and not await self._read_proxy():
            return False
        if await self.greeting.send(self):
            return True
        await self.close_with(replies.PREGREET, "pregreet")
        return False

    async def _read_proxy(self) -> bool:
        """The PROXY header (required, never guessed); limits then apply to the real client."""
        assert self.session is not None and self.transport is not None
        settings = self.ctx.settings
        self.arm(min(proxy.TIMEOUT, settings.timeout))
        data, error = await proxy.read_header(self.stream, int(settings.proxy_protocol[1]))
        if data is None:
            self.ctx.count("proxy_invalid")
            log_event(log, "session.proxy_invalid", peer=self.peer_ip, error=error)
            self.close_reason = "proxy_invalid"
            self.transport.close()
            return False
        self.session.proxy_data = data
        client = proxy.real_client(data)
        if client is not None:
            self.peer_ip, self.peer_port = client
            self.session.peer = client  # type: ignore[assignment]
        reason = self.admission.admit(self.peer_ip, settings.limit_exempt)
        if reason:
            reply = replies.too_many_connections(self.hostname, self.peer_ip)
            await self.close_with(reply, reason)
            return False
        self.arm()
        return True

    # -- the command loop -----------------------------------------------------------------
    async def serve(self) -> None:
        try:
            if not await self._greet():
                return
            while self.transport is not None:
                if self.ctx.draining:
                    await self.close_with(replies.SHUTTING_DOWN, "draining")
                    return
                if self.too_many_errors():
                    await self.close_with(replies.too_many_errors(self.hostname), "errors")
                    return
                self.phase = "idle"
                line = await commands.read_line(self.stream)
                if line is None:
                    self.close_reason = "eof"
                    self.transport.close()
                    return
                if not line:
                    await self.push(replies.COMMAND_TOO_LONG)
                self.spoke = True
                self.phase = "command"
                if line:
                    self.arm()
                    await self._dispatch(line)
        except (ConnectionError, TLSSetupException, asyncio.IncompleteReadError) as exc:
            self.close_reason = type(exc).__name__
            self.hang_up(exc)
        except Exception as error:
            reply = await self.handle_exception(error)
            if self.transport is not None:
                await self.close_with(reply, "internal_error")

    async def _dispatch(self, raw: bytes) -> None:
        assert self.session is not None
        line, verb, arg, crlf = commands.split(raw)
        if not crlf:
            self.notes.add("bare_lf")
        self.verb = verb
        extended = bool(self.session.extended_smtp)
        refused = commands.refusal(line, verb, crlf=crlf, extended=extended, peer=self.peer_ip,
                                   reject_bare_lf=self.ctx.settings.bare_lf == "reject",
                                   pipelined=self.pending() > 0)  # fmt: skip
        if refused is not None:
            reply, reason = refused
            await (self.close_with(reply, reason) if reason else self.push(reply))
            return
        method = self.command(verb)
        if method is None:
            self.ctx.count("unknown_command")
            await self.push(replies.UNKNOWN_COMMAND)
            return
        self.errors.command(verb)
        await method(arg.strip().decode("utf-8", "surrogateescape") or None)

    # -- the commands (aiosmtpd parses MAIL/RCPT arguments and runs RSET, NOOP, QUIT...) ----
    async def smtp_EHLO(self, hostname: str | None) -> None:
        await self._hello("EHLO", hostname)

    async def smtp_HELO(self, hostname: str | None) -> None:
        await self._hello("HELO", hostname)

    async def _hello(self, verb: str, hostname: str | None) -> None:
        """Ours so that we advertise exactly what we honour (no AUTH on an MX)."""
        if not hostname:
            await self.push(replies.SYNTAX_HELO.format(verb=verb))
            return
        problem = check_text(hostname, verb=verb)
        if problem:
            await self.push(problem)
            return
        assert self.session is not None
        self.reset_transaction()
        self.session.host_name = hostname
        self.session.extended_smtp = verb == "EHLO"
        if verb == "HELO":
            await self.send_raw(f"250 {self.hostname}")
        else:
            starttls = bool(self.tls_context) and not self.tls_active
            size = self.ctx.settings.max_message_size
            await self.send_raw(replies.ehlo(self.hostname, size=size, starttls=starttls))

    async def smtp_STARTTLS(self, arg: str | None) -> None:
        refused = self.gate.starttls(self, arg, offered=bool(self.tls_context))
        if refused is not None:
            await self.push(refused)
            return
        pending = self.pending()
        if pending:  # RFC 3207 §4.2 / CVE-2024-34083: aiosmtpd discards them after the handshake
            self.notes.add("starttls_pipelined")
            log_event(log, "session.starttls_discard", peer=self.peer_ip, bytes=pending)
        self.phase = "tls"
        self.disarm()  # the handshake has its own bound (docs/threat-model.md A26)
        try:
            await self.start_tls(self.ctx.settings.tls_handshake_timeout)
        except TLSSetupException as exc:
            error = exc.__cause__ or exc
            if isinstance(error, TimeoutError):
                self.ctx.count("tls_timeout")
            log_event(log, "session.tls_failed", level=logging.WARNING, peer=self.peer_ip,
                      **tls.handshake_failure(error, self.tls_object()))  # fmt: skip
            raise

    async def smtp_DATA(self, arg: str | None) -> None:
        """Checked here like any other command; all that follows 354 is listener/data.py's."""
        if await self.check_helo_needed():
            return
        assert self.envelope is not None
        refused = refusal(self.envelope, arg, self.ctx)
        if refused is not None:
            await self.push(refused)
            return
        assert self.session is not None
        peer = f"{self.peer_ip}:{self.peer_port}"
        transfer = Transfer(self, envelope_of(self.session, self.envelope, peer, self.tls_active))
        self.message_id = transfer.message_id
        try:
            await self.push(replies.START_DATA)
            reply = await transfer.run()
            if reply is None:
                return
            self.end_transaction()
            if reply.startswith("250"):
                self.errors.accepted()
                self.messages += 1
            await self.push(reply)
        finally:
            self.message_id = None
