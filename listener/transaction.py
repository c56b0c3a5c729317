"""The mail transaction commands: EHLO/HELO, STARTTLS, MAIL, RCPT and DATA up to the 250.

`Transaction` is the part of the SMTP state machine that decides what gets accepted; the
connection plumbing (limits, timers, the command loop, drain) lives in `listener.session`.
aiosmtpd still parses MAIL/RCPT arguments and runs the TLS upgrade; our hooks apply the policy,
and DATA is ours entirely (bulk reader, size and memory limits, shielded persist).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

from aiosmtpd.smtp import SMTP, TLSSetupException

from listener import replies
from listener.context import ListenerContext
from listener.data import DataReader
from listener.persist import Message
from listener.policy import check_recipient, check_sender, check_text
from mailbus.envelope import Envelope
from mailbus.ids import new_message_id
from mailbus.logs import log_event
from mailbus.trace import trace_headers

log = logging.getLogger("mailbus.listener")
READ_SIZE = 65_536


def safe(value: Any, limit: int = 100) -> str:
    """Attacker-controlled text for a log line: escaped and truncated (catalogue E09)."""
    text = value if isinstance(value, str) else str(value)
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")[:limit]


class Transaction(SMTP):
    ctx: ListenerContext
    errors: int
    junk: int
    messages: int
    phase: str
    peer_ip: str
    peer_port: int
    notes: set[str]

    def _arm(self, seconds: float | None = None) -> None:
        self._reset_timeout(max(seconds, 0.001) if seconds is not None else None)

    def _count(self, reason: str) -> None:
        self.ctx.counters[reason] += 1

    async def _send_raw(self, line: str) -> None:
        """A reply that must not get an enhanced code (greeting, EHLO lines)."""
        await SMTP.push(self, line)

    async def smtp_EHLO(self, hostname: str | None) -> None:
        await self._hello("EHLO", hostname)

    async def smtp_HELO(self, hostname: str | None) -> None:
        await self._hello("HELO", hostname)

    async def _hello(self, verb: str, hostname: str | None) -> None:
        if not hostname:
            await self.push(replies.SYNTAX_HELO.format(verb=verb))
            return
        problem = check_text(hostname, verb=verb)
        if problem:
            await self.push(problem)
            return
        assert self.session is not None
        self._set_rset_state()
        self.session.host_name = hostname
        self.session.extended_smtp = verb == "EHLO"
        host = self.hostname
        if verb == "HELO":
            await self._send_raw(f"250 {host}")
            return
        lines = [host, f"SIZE {self.ctx.settings.max_message_size}", "8BITMIME", "PIPELINING"]
        lines += ["SMTPUTF8", "ENHANCEDSTATUSCODES"]
        if self.tls_context and self._tls_protocol is None:
            lines.append("STARTTLS")
        for i, line in enumerate(lines):
            await self._send_raw(("250 " if i == len(lines) - 1 else "250-") + line)

    async def smtp_STARTTLS(self, arg: str | None) -> None:
        if self._tls_protocol is not None:
            await self.push(replies.TLS_ACTIVE)
            return
        if arg:
            await self.push(replies.SYNTAX_STARTTLS)
            return
        if not self.tls_context:
            await self.push(replies.TLS_UNAVAILABLE)
            return
        pending = len(self._reader._buffer)  # type: ignore[attr-defined]
        if pending:  # RFC 3207 §4.2 / CVE-2024-34083: aiosmtpd discards them after the handshake
            self.notes.add("starttls_pipelined")
            log_event(log, "session.starttls_discard", peer=self.peer_ip, bytes=pending)
        self.phase = "tls"
        assert self._timeout_handle is not None
        self._timeout_handle.cancel()  # the handshake has its own bound (catalogue A26)
        try:
            await asyncio.wait_for(
                super().smtp_STARTTLS(arg), self.ctx.settings.tls_handshake_timeout
            )
        except TimeoutError as exc:
            self._count("tls_timeout")
            raise TLSSetupException("handshake timeout") from exc

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        problem = check_sender(address, smtputf8=bool(envelope.smtp_utf8))
        if problem:
            self._count("bad_sender")
            return problem
        size = next((o[5:] for o in options if o.startswith("SIZE=")), "0")
        if not self.ctx.budget.fits(int(size)):
            self._count("no_storage")
            return replies.NO_STORAGE
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return replies.SENDER_OK

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= self.ctx.settings.max_recipients:
            self._count("too_many_recipients")
            return replies.TOO_MANY_RECIPIENTS
        settings = self.ctx.settings
        problem = check_recipient(
            address,
            self.ctx.domains,
            smtputf8=bool(envelope.smtp_utf8),
            allow_literals=settings.allow_address_literals,
        )
        if problem:
            envelope.rejected = getattr(envelope, "rejected", 0) + 1
            self._count("relay_denied" if problem.startswith("550 5.7.1") else "bad_recipient")
            log_event(log, "rcpt.rejected", peer=self.peer_ip, rcpt=safe(address), reply=problem)
            return problem
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return replies.RECIPIENT_OK

    async def smtp_DATA(self, arg: str | None) -> None:
        if await self.check_helo_needed():
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            rejected = getattr(self.envelope, "rejected", 0)
            await self.push(replies.NO_VALID_RECIPIENTS if rejected else replies.NEED_RCPT)
            return
        if arg:
            await self.push(replies.SYNTAX_DATA)
            return
        budget = self.ctx.budget
        if not budget.fits(1):
            self._count("no_storage")
            await self.push(replies.NO_STORAGE)
            return
        message_id = new_message_id()
        envelope = self._envelope()
        reader = DataReader(
            trace_headers(envelope, message_id, self.hostname), self.ctx.settings.max_message_size
        )
        await self.push(replies.START_DATA)
        self.phase = "data"
        accounted = 0
        try:
            finished, accounted = await self._receive(reader)
            if not finished:
                log_event(log, "message.lost_connection", peer=self.peer_ip, bytes=reader.received)
                return
            reply = await self._finish(message_id, envelope, reader)
        finally:
            budget.give(accounted)
        self._set_post_data_state()
        if reply.startswith("250"):
            self.junk = 0
            self.messages += 1
        await self.push(reply)

    def _envelope(self) -> Envelope:
        assert self.envelope is not None and self.session is not None
        mail_from = self.envelope.mail_from or ""
        return Envelope(
            mail_from="" if mail_from == "<>" else mail_from,
            rcpt_tos=tuple(self.envelope.rcpt_tos),
            helo=self.session.host_name or "",
            peer=f"{self.peer_ip}:{self.peer_port}",
            tls=self._tls_protocol is not None,
            smtputf8=bool(self.envelope.smtp_utf8),
            received_at=time.time(),
            mail_options=tuple(self.envelope.mail_options),
        )

    async def _receive(self, reader: DataReader) -> tuple[bool, int]:
        """Read to <CRLF>.<CRLF>: each read must come within MAILBUS_TIMEOUT, and the whole
        upload keeps pace with MAILBUS_MIN_DATA_RATE (each byte buys 1/rate s, up to timeout)."""
        settings, budget = self.ctx.settings, self.ctx.budget
        deadline = time.monotonic() + settings.timeout
        self._arm(settings.timeout)
        accounted = 0
        while True:
            chunk = await self._reader.read(READ_SIZE)
            if not chunk:
                budget.give(accounted)
                return False, 0
            used = reader.feed(chunk)
            grow = reader.held - accounted
            if grow > 0 and not reader.dropped:
                if budget.take(grow):
                    accounted += grow
                else:
                    self.notes.add("no_storage")
                    reader.drop()
            if reader.dropped and accounted:
                budget.give(accounted)
                accounted = 0
            if used >= 0:
                if used < len(chunk):  # pipelined commands after the final dot
                    self._reader._buffer[0:0] = chunk[used:]  # type: ignore[attr-defined]
                return True, accounted
            now = time.monotonic()
            deadline = min(deadline + len(chunk) / settings.min_data_rate, now + settings.timeout)
            self._arm(deadline - now)

    async def _finish(self, message_id: str, envelope: Envelope, reader: DataReader) -> str:
        notes = reader.notes()
        self._arm()
        reject_bare = self.ctx.settings.bare_lf == "reject"
        persist_ms, error = None, None
        if reader.too_big:
            reply, reason = replies.TOO_BIG, "too_big"
        elif reader.dropped:
            reply, reason = replies.NO_STORAGE, "no_storage"
        elif reject_bare and ("bare_lf" in notes or "bare_cr" in notes):
            reply, reason = replies.BARE_LF, "bare_lf"
        else:
            started = time.monotonic()
            error = await self._persist(message_id, envelope, reader)
            persist_ms = round((time.monotonic() - started) * 1000, 1)
            reply = replies.QUEUE_ERROR if error else replies.queued(message_id)
            reason = "persist_failed" if error else ""
        if reason:
            self._count(reason)
        accepted = reply.startswith("250")
        log_event(
            log,
            "message.queued" if accepted else "message.rejected",
            level=logging.INFO if accepted else logging.ERROR if error else logging.WARNING,
            id=message_id,
            peer=envelope.peer,
            helo=safe(envelope.helo),
            mail_from=safe(envelope.mail_from),
            rcpt_tos=[safe(r) for r in envelope.rcpt_tos],
            tls=envelope.tls,
            size=reader.size,
            reply=reply,
            reason=reason or None,
            persist_ms=persist_ms,
            notes=notes,
            error=error,
        )
        return reply

    async def _persist(self, message_id: str, envelope: Envelope, reader: DataReader) -> str | None:
        """Make the message durable; return None, or the error (as text) that prevented it."""
        message = Message(
            message_id=message_id,
            data=cast(bytes, reader.buffer),  # no copy of a message that may be 25 MB
            envelope=envelope,
            digest=reader.digest(envelope),
            size=reader.size,
        )
        self.phase = "persist"
        assert self._timeout_handle is not None
        self._timeout_handle.cancel()  # persist has its own bound; the session timer must not

        def late(outcome: str) -> None:
            log_event(log, "message.persist_late", id=message_id, outcome=outcome)

        try:
            await self.ctx.persister.persist(message, on_late=late)
        except asyncio.CancelledError:
            log_event(log, "message.client_gone", id=message_id, peer=envelope.peer)
            raise
        except Exception as exc:
            return repr(exc) or type(exc).__name__
        finally:
            self.phase = "command"
            self._arm()
        return None
