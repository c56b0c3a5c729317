"""The commands before DATA: EHLO/HELO, STARTTLS, MAIL and RCPT, plus what sessions share.

`Commands` is the policy half of the state machine for everything up to DATA. aiosmtpd still
parses MAIL/RCPT arguments (SIZE, BODY, SMTPUTF8) and performs the TLS upgrade; our hooks decide
what is accepted. EHLO is ours so that we advertise exactly what we honour (no AUTH on an MX).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from aiosmtpd.smtp import SMTP, TLSSetupException

from listener import metrics, replies, tls
from listener.context import ListenerContext
from listener.policy import check_recipient, check_sender, check_text
from mailbus.logs import log_event

log = logging.getLogger("mailbus.listener")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# `<dot-atom@domain>`, what almost every MAIL and RCPT carries.
_PLAIN_PATH = re.compile(rf"\s*<({_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*)>")


def safe(value: Any, limit: int = 100) -> str:
    """Attacker-controlled text for a log line: escaped and truncated (catalogue E09)."""
    text = value if isinstance(value, str) else str(value)
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")[:limit]


class Commands(SMTP):
    """Per-connection state shared by the command handlers; `Session` fills it in."""

    ctx: ListenerContext
    errors: int
    overshoot: int  # recipients refused with 452 4.5.3 in this session
    junk: int
    messages: int
    phase: str
    peer_ip: str
    peer_port: int
    client: str  # the key per-client limits count under (limits.client_key)
    exempt: bool  # inside MAILBUS_LIMIT_EXEMPT: no per-client counts or rates
    pregreeted: bool  # talked before the greeting, MAILBUS_GREET_ACTION=enforce
    notes: set[str]
    verb: str = ""  # the last command's verb, for the too-many-errors warning
    held: int  # DATA bytes this session holds against the process budget

    def arm(self, seconds: float | None = None) -> None:
        """(Re)start the one session timer; when it fires the client gets 421 4.4.2."""
        self._reset_timeout(max(seconds, 0.001) if seconds is not None else None)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """A plain `<user@example.com>` without the e-mail header parser: aiosmtpd's parse (and
        the class it defines on every call) was an eighth of a small message's CPU. Anything
        else (quoted, non-ASCII, literals, no brackets) goes to aiosmtpd's full parser."""
        plain = _PLAIN_PATH.match(arg) if "(" not in arg else None  # no comments to skip
        if plain is None:
            return super()._getaddr(arg)
        return plain.group(1), arg[plain.end() :].lstrip()

    def count(self, reason: str) -> None:
        self.ctx.counters[reason] += 1
        metrics.REJECTIONS.labels(reason).inc()

    def too_many_errors(self) -> bool:
        """At MAILBUS_HARD_ERROR_LIMIT: a warning with who and what came last (the caller says
        421 and closes), so an operator sees why the session ended."""
        if self.errors < self.ctx.settings.hard_error_limit:
            return False
        log_event(log, "session.too_many_errors", level=logging.WARNING, peer=self.peer_ip,
                  errors=self.errors, verb=safe(self.verb))  # fmt: skip
        return True

    async def _send_raw(self, line: str) -> None:
        """A reply that must not get an enhanced code (greeting, EHLO lines)."""
        await SMTP.push(self, line)

    async def _read_line(self) -> bytes | None:
        """One command line; b"" when it was too long (answered here), None at end of input."""
        try:
            return await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError as overrun:
            consumed = overrun.consumed
        while True:  # discard the whole over-long line; its tail is never parsed as a command
            await self._reader.read(consumed)
            try:
                await self._reader.readuntil(b"\n")
                break
            except asyncio.IncompleteReadError:
                return None
            except asyncio.LimitOverrunError as overrun:
                consumed = overrun.consumed
        await self.push(replies.COMMAND_TOO_LONG)
        return b""

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
        last = len(lines) - 1
        await self._send_raw(  # one write, not one per line
            "\r\n".join(("250 " if i == last else "250-") + line for i, line in enumerate(lines))
        )

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
        if not self.exempt and not self.ctx.tls_rate.allow(self.client):  # catalogue B12
            self.count("tls_rate")  # handshakes cost CPU; plaintext delivery still works
            await self.push(replies.too_many_tls_sessions(self.peer_ip))
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
            self.count("tls_timeout")
            self._tls_failed(exc)
            raise TLSSetupException("handshake timeout") from exc
        except TLSSetupException as exc:
            self._tls_failed(exc.__cause__ or exc)
            raise

    def _tls_failed(self, error: BaseException) -> None:
        """One warning line saying why the handshake failed and what the client offered."""
        sslobj = getattr(self._tls_protocol, "_sslobj", None)  # asyncio's SSLProtocol
        log_event(log, "session.tls_failed", level=logging.WARNING, peer=self.peer_ip,
                  **tls.handshake_failure(error, sslobj))  # fmt: skip

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        problem = check_sender(address, smtputf8=bool(envelope.smtp_utf8))
        if problem:
            self.count("bad_sender")
            return problem
        size = next((o[5:] for o in options if o.startswith("SIZE=")), "0")
        if not self.ctx.budget.fits(int(size)):
            self.count("no_storage")
            return replies.NO_STORAGE
        if self.ctx.backlog.full:
            self.count("backlog")
            return replies.NO_STORAGE
        if not self.exempt and not self.ctx.message_rate.allow(self.client):
            self.count("message_rate")
            log_event(log, "mail.rate_limited", peer=self.peer_ip, client=self.client)
            return replies.too_much_mail(self.peer_ip)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return replies.SENDER_OK

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.pregreeted:  # A10 "enforce": it talked before the greeting
            envelope.rejected = getattr(envelope, "rejected", 0) + 1
            log_event(log, "rcpt.rejected", peer=self.peer_ip, rcpt=safe(address),
                      mail_from=safe(envelope.mail_from or ""),
                      reply=replies.PREGREET_ENFORCED)  # fmt: skip
            return replies.PREGREET_ENFORCED
        if len(envelope.rcpt_tos) >= self.ctx.settings.max_recipients:
            self.count("too_many_recipients")
            self.overshoot += 1  # the sender sends these again in another transaction
            if self.overshoot > self.ctx.settings.recipient_overshoot_limit:
                self.errors += 1  # Postfix smtpd_recipient_overshoot_limit, per session
            return replies.TOO_MANY_RECIPIENTS
        if not self.exempt and not self.ctx.recipient_rate.allow(self.client):
            self.count("recipient_rate")
            log_event(log, "rcpt.rate_limited", peer=self.peer_ip, client=self.client)
            return replies.too_many_recipients_from(self.peer_ip)
        settings = self.ctx.settings
        problem = check_recipient(
            address,
            self.ctx.domains,
            smtputf8=bool(envelope.smtp_utf8),
            allow_literals=settings.allow_address_literals,
        )
        if problem:
            envelope.rejected = getattr(envelope, "rejected", 0) + 1
            self.count("relay_denied" if problem.startswith("550 5.7.1") else "bad_recipient")
            log_event(log, "rcpt.rejected", peer=self.peer_ip, rcpt=safe(address), reply=problem)
            return problem
        checked = self.ctx.recipients  # MAILBUS_RECIPIENT_CHECK (listener.recipients)
        if checked is not None and (refused := await checked.check(address, envelope, session)):
            envelope.rejected = getattr(envelope, "rejected", 0) + 1
            self.count("no_mailbox" if refused[0] == "5" else "recipient_check")
            log_event(log, "rcpt.rejected", peer=self.peer_ip, rcpt=safe(address), reply=refused)
            return refused
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return replies.RECIPIENT_OK
