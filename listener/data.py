"""DATA, from the command to the final reply: read, limits, persist, and where the 250 comes from.

`Session.smtp_DATA` checks the command like any other, then hands the upload to a `Transfer`:
it reads to <CRLF>.<CRLF> with `DataReader`, keeps the size and memory limits, makes the message
durable through the shared `Persister`, logs the outcome and returns the reply (`250 ... queued
as <id>` only after the persist succeeded; a temporary failure carries the id too).

aiosmtpd reads DATA line by line, refuses lines over 1001 bytes with a permanent 500 and holds
about 2.7x the message in memory. `DataReader` takes whole socket reads, ends the message only at
<CRLF>.<CRLF> (so no smuggling variant such as <LF>.<LF> or <CR>.<CR> can split it), removes
one leading dot per line (RFC 5321 §4.5.2), accepts lines of any length, and appends straight
into the buffer that becomes the stored object (trace headers first), hashing as it goes: the
memory per message stays close to its size. Past the size limit it keeps reading to the end of
the message and discards, so the session can still answer 552 and continue.

The timer follows Postfix: each read must arrive within MAILBUS_TIMEOUT and the upload as a
whole must keep MAILBUS_MIN_DATA_RATE; the persist is bounded by MAILBUS_PERSIST_TIMEOUT instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from typing import Any, Protocol, cast

from listener import metrics, replies
from listener.context import ListenerContext
from listener.persist import Message
from mailbus.envelope import Envelope
from mailbus.ids import new_message_id
from mailbus.logs import escape, log_event
from mailbus.trace import finish_digest, trace_headers

log = logging.getLogger("mailbus.listener")
READ_SIZE = 65_536
END = b"\r\n.\r\n"
# Sequences that end DATA in some broken MTA; seeing one is worth a note (docs/threat-model.md A31).
SMUGGLING = (b"\n.\n", b"\n.\r", b"\r.\r", b"\r.\n", b"\r\n\x00.", b"\r\n.\x00")


class Conversation(Protocol):
    """What a transfer uses of its session: the session satisfies it, data.py never imports it."""

    ctx: ListenerContext
    hostname: str
    peer_ip: str
    phase: str
    notes: set[str]

    @property
    def stream(self) -> asyncio.StreamReader: ...
    def unread(self, data: bytes) -> None: ...
    def arm(self, seconds: float | None = None) -> None: ...
    def disarm(self) -> None: ...


def refusal(envelope: Any, arg: str | None, ctx: ListenerContext) -> str | None:
    """The reply refusing a DATA command before 354 (aiosmtpd's envelope), or None."""
    if not envelope.rcpt_tos:
        rejected = getattr(envelope, "rejected", 0)  # every RCPT was refused
        return replies.NO_VALID_RECIPIENTS if rejected else replies.NEED_RCPT
    if arg:
        return replies.SYNTAX_DATA
    if ctx.budget.fits(1):
        return None
    ctx.count("no_storage")
    return replies.NO_STORAGE


def envelope_of(session: Any, envelope: Any, peer: str, tls: bool) -> Envelope:
    """Ours, from aiosmtpd's session and envelope: what the job and the trace header see."""
    mail_from = envelope.mail_from or ""
    return Envelope(
        mail_from="" if mail_from == "<>" else mail_from,
        rcpt_tos=tuple(envelope.rcpt_tos),
        helo=session.host_name or "",
        peer=peer,
        tls=tls,
        smtputf8=bool(envelope.smtp_utf8),
        received_at=time.time(),
        mail_options=tuple(envelope.mail_options),
    )


class Transfer:
    """One message upload after 354: `run` returns the final reply, or None if the client left."""

    def __init__(self, session: Conversation, envelope: Envelope) -> None:
        self.session, self.envelope = session, envelope
        self.message_id = new_message_id()
        self.held = 0  # bytes held against the process's MAILBUS_MAX_INFLIGHT_BYTES
        self.reader = DataReader(
            trace_headers(envelope, self.message_id, session.hostname),
            session.ctx.settings.max_message_size,
        )

    async def run(self) -> str | None:
        self.session.phase = "data"
        try:
            if not await self._receive():
                log_event(log, "message.lost_connection", id=self.message_id,
                          peer=self.session.peer_ip, bytes=self.reader.received)  # fmt: skip
                return None
            return await self._finish()
        finally:
            self.session.ctx.budget.give(self.held)  # also when the client vanished mid-upload
            self.held = 0

    async def _receive(self) -> bool:
        """Read to <CRLF>.<CRLF> (False if the client left first): each read must come within
        MAILBUS_TIMEOUT and the upload keep MAILBUS_MIN_DATA_RATE (a byte buys 1/rate s)."""
        session, reader = self.session, self.reader
        settings, budget = session.ctx.settings, session.ctx.budget
        deadline = time.monotonic() + settings.timeout
        session.arm(settings.timeout)
        while True:
            chunk = await session.stream.read(READ_SIZE)
            if not chunk:
                return False
            used = reader.feed(chunk)
            grow = reader.held - self.held
            if grow > 0 and not reader.dropped:
                if budget.take(grow):
                    self.held += grow
                else:
                    session.notes.add("no_storage")
                    reader.drop()
            if reader.dropped and self.held:
                budget.give(self.held)
                self.held = 0
            if used >= 0:
                if used < len(chunk):  # pipelined commands after the final dot
                    session.unread(chunk[used:])
                return True
            now = time.monotonic()
            deadline = min(deadline + len(chunk) / settings.min_data_rate, now + settings.timeout)
            session.arm(deadline - now)

    async def _finish(self) -> str:
        """Judge the upload, persist it if it passes, log and count the outcome: the reply."""
        session, reader, envelope = self.session, self.reader, self.envelope
        notes = reader.notes()
        session.arm()
        persist_ms, error = None, None
        if reader.too_big:
            reply, reason = replies.TOO_BIG, "too_big"
        elif reader.dropped:
            reply, reason = replies.with_id(replies.NO_STORAGE, self.message_id), "no_storage"
        elif session.ctx.settings.bare_lf == "reject" and {"bare_lf", "bare_cr"} & set(notes):
            reply, reason = replies.BARE_LF, "bare_lf"
        else:
            started = time.monotonic()
            if notes:  # flagged in the job, for the parser to report as defects
                envelope = dataclasses.replace(envelope, notes=tuple(notes))
            error = await self._persist(envelope)
            persist_ms = round((time.monotonic() - started) * 1000, 1)
            ok = replies.queued(self.message_id)
            reply = replies.queue_error(self.message_id) if error else ok
            reason = "persist_failed" if error else ""
        if reason:
            session.ctx.count(reason)
        accepted = reply.startswith("250")
        outcome = "accepted" if accepted else "failed" if error else "rejected"
        metrics.MESSAGES.labels(outcome).inc()
        session.ctx.messages[outcome] += 1  # for the heartbeat (listener.heartbeat)
        metrics.BYTES.inc(reader.size)
        if persist_ms is not None and not error:
            metrics.PERSIST_SECONDS.observe(persist_ms / 1000)
        log_event(
            log,
            "message.queued" if accepted else "message.rejected",
            level=logging.INFO if accepted else logging.ERROR if error else logging.WARNING,
            id=self.message_id,
            peer=envelope.peer,
            helo=escape(envelope.helo),
            mail_from=escape(envelope.mail_from),
            rcpt_tos=[escape(r) for r in envelope.rcpt_tos],
            tls=envelope.tls,
            size=reader.size,
            reply=reply,
            reason=reason or None,
            persist_ms=persist_ms,
            notes=notes,
            error=error,
        )
        return reply

    async def _persist(self, envelope: Envelope) -> str | None:
        """Make the message durable; return None, or the error (as text) that prevented it."""
        session, reader, message_id = self.session, self.reader, self.message_id
        message = Message(
            message_id=message_id,
            data=cast(bytes, reader.buffer),  # no copy of a message that may be 25 MB
            envelope=envelope,
            digest=reader.digest(envelope),
            size=reader.size,
        )
        session.phase = "persist"
        session.disarm()  # persist has its own bound; the session timer must not cancel it

        def late(outcome: str) -> None:
            log_event(log, "message.persist_late", id=message_id, outcome=outcome)

        try:
            await session.ctx.persister.persist(message, on_late=late)
        except asyncio.CancelledError:
            log_event(log, "message.client_gone", id=message_id, peer=envelope.peer)
            raise
        except Exception as exc:
            return repr(exc) or type(exc).__name__
        finally:
            session.phase = "command"
            session.arm()
        return None


class DataReader:
    """Feed socket reads with `feed`; `buffer[start:]` is the message as received."""

    def __init__(self, prefix: bytes, limit: int) -> None:
        self.buffer = bytearray(prefix)
        self.start = len(prefix)
        self.limit = limit
        self.size = 0
        self.received = 0  # raw bytes on the wire, for rates and logs
        self.too_big = False
        self.dropped = False
        self._pending = b"\r\n"  # unprocessed raw tail; starts with a virtual CRLF
        self._virtual = 2  # bytes of that virtual CRLF still to strip from the output
        self._prev = b""  # last two raw bytes already processed, for dot-unstuffing
        self._hash = hashlib.sha256()

    @property
    def held(self) -> int:
        return len(self.buffer) - self.start

    def feed(self, chunk: bytes) -> int:
        """Take one read; return -1 while the message goes on, else the bytes of `chunk` used
        (what follows belongs to the next command)."""
        self.received += len(chunk)
        data = self._pending + chunk
        end = data.find(END)
        if end < 0:
            keep = min(len(data), 4)  # a terminator may straddle this read and the next
            self._process(data[: len(data) - keep])
            self._pending = data[len(data) - keep :]
            return -1
        self._process(data[: end + 2])
        self._pending = b""
        return end + 5 - (len(data) - len(chunk))

    def _process(self, raw: bytes) -> None:
        if not raw:
            return
        joined = self._prev + raw
        out = joined.replace(b"\r\n.", b"\r\n")[len(self._prev) :]
        self._prev = joined[-2:]
        if self._virtual:
            strip = min(self._virtual, len(out))
            out = out[strip:]
            self._virtual -= strip
        self.size += len(out)
        if self.size > self.limit and not self.too_big:
            self.too_big = True
            self.drop()
        if not self.dropped:
            self.buffer += out
            self._hash.update(out)

    def drop(self) -> None:
        """Stop keeping the message (too big, or no memory budget left); keep reading to its end."""
        self.dropped = True
        del self.buffer[self.start :]

    def digest(self, envelope: Envelope) -> str:
        """`mailbus.trace.delivery_digest(received, envelope)`, without a copy of the message."""
        return finish_digest(self._hash.copy(), envelope)

    def notes(self) -> list[str]:
        """Flags for the log and the policy: bare_lf, bare_cr, nul, smuggling_suspect."""
        buf, start = self.buffer, self.start
        crlf = buf.count(b"\r\n", start)
        found = []
        if buf.count(b"\n", start) != crlf:
            found.append("bare_lf")
        if buf.count(b"\r", start) != crlf:
            found.append("bare_cr")
        if buf.find(b"\x00", start) >= 0:
            found.append("nul")
        if found and any(buf.find(seq, start) >= 0 for seq in SMUGGLING):
            found.append("smuggling_suspect")
        return found
