"""The DATA command: bulk read to <CRLF>.<CRLF>, size and memory limits, shielded persist.

Everything between `DATA` and the final reply is ours: aiosmtpd's DATA reader is line based,
refuses long lines with a permanent 500 and holds the message several times over. The timer here
follows Postfix: each read must arrive within MAILBUS_TIMEOUT and the upload as a whole must keep
MAILBUS_MIN_DATA_RATE; the persist is bounded by MAILBUS_PERSIST_TIMEOUT instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import cast

from listener import metrics, replies
from listener.commands import Commands, safe
from listener.data import DataReader
from listener.persist import Message
from mailbus.envelope import Envelope
from mailbus.ids import new_message_id
from mailbus.logs import log_event
from mailbus.trace import trace_headers

log = logging.getLogger("mailbus.listener")
READ_SIZE = 65_536


class Transaction(Commands):
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
            self.count("no_storage")
            await self.push(replies.NO_STORAGE)
            return
        message_id = new_message_id()
        envelope = self._envelope()
        reader = DataReader(
            trace_headers(envelope, message_id, self.hostname), self.ctx.settings.max_message_size
        )
        await self.push(replies.START_DATA)
        self.phase = "data"
        try:
            finished = await self._receive(reader)
            if not finished:
                log_event(log, "message.lost_connection", peer=self.peer_ip, bytes=reader.received)
                return
            reply = await self._finish(message_id, envelope, reader)
        finally:
            budget.give(self.held)  # also when the client vanished mid-upload
            self.held = 0
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

    async def _receive(self, reader: DataReader) -> bool:
        """Read to <CRLF>.<CRLF> (False if the client left first): each read must come within
        MAILBUS_TIMEOUT and the upload keep MAILBUS_MIN_DATA_RATE (a byte buys 1/rate s)."""
        settings, budget = self.ctx.settings, self.ctx.budget
        deadline = time.monotonic() + settings.timeout
        self.arm(settings.timeout)
        while True:
            chunk = await self._reader.read(READ_SIZE)
            if not chunk:
                return False
            used = reader.feed(chunk)
            grow = reader.held - self.held
            if grow > 0 and not reader.dropped:
                if budget.take(grow):
                    self.held += grow
                else:
                    self.notes.add("no_storage")
                    reader.drop()
            if reader.dropped and self.held:
                budget.give(self.held)
                self.held = 0
            if used >= 0:
                if used < len(chunk):  # pipelined commands after the final dot
                    self._reader._buffer[0:0] = chunk[used:]  # type: ignore[attr-defined]
                return True
            now = time.monotonic()
            deadline = min(deadline + len(chunk) / settings.min_data_rate, now + settings.timeout)
            self.arm(deadline - now)

    async def _finish(self, message_id: str, envelope: Envelope, reader: DataReader) -> str:
        notes = reader.notes()
        self.arm()
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
            if notes:  # flagged in the job, for the parser to report as defects
                envelope = dataclasses.replace(envelope, notes=tuple(notes))
            error = await self._persist(message_id, envelope, reader)
            persist_ms = round((time.monotonic() - started) * 1000, 1)
            reply = replies.QUEUE_ERROR if error else replies.queued(message_id)
            reason = "persist_failed" if error else ""
        if reason:
            self.count(reason)
        accepted = reply.startswith("250")
        metrics.MESSAGES.labels("accepted" if accepted else "failed" if error else "rejected").inc()
        metrics.BYTES.inc(reader.size)
        if persist_ms is not None and not error:
            metrics.PERSIST_SECONDS.observe(persist_ms / 1000)
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
            self.arm()
        return None
