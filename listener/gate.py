"""MAIL, RCPT and STARTTLS: whether this session may do what its client asks for, now.

`Gate` is the session's aiosmtpd *handler* (aiosmtpd's public extension point): aiosmtpd parses
the MAIL/RCPT arguments (SIZE, BODY, SMTPUTF8) and calls `handle_MAIL`/`handle_RCPT` with the
address; the gate answers with the envelope rules (policy.py), the per-client rates and the
process's memory and queue guards (limits.py, load.py). The session asks `starttls` before a
handshake. One gate per session.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from listener import replies
from listener.context import ListenerContext
from listener.greeting import Greeting
from listener.limits import Admission, ErrorCount
from listener.policy import check_recipient, check_sender
from mailbus.logs import escape, log_event

log = logging.getLogger("mailbus.listener")


class Speaker(Protocol):
    """What the gate uses of its session (the session satisfies it; no import of it here)."""

    peer_ip: str

    @property
    def tls_active(self) -> bool: ...


class Gate:
    def __init__(
        self, ctx: ListenerContext, admission: Admission, errors: ErrorCount, greeting: Greeting
    ) -> None:
        self.ctx, self.admission, self.errors, self.greeting = ctx, admission, errors, greeting

    def __dir__(self) -> list[str]:
        """The hooks aiosmtpd calls (it scans dir() of its handler on every connection)."""
        return ["handle_MAIL", "handle_RCPT"]

    def starttls(self, server: Speaker, arg: str | None, *, offered: bool) -> str | None:
        """The reply refusing STARTTLS, or None to start the handshake."""
        if server.tls_active:
            return replies.TLS_ACTIVE
        if arg:
            return replies.SYNTAX_STARTTLS
        if not offered:
            return replies.TLS_UNAVAILABLE
        client = self.admission.client  # handshakes cost CPU: a rate per client (threat model B12)
        if not self.admission.exempt and not self.ctx.tls_rate.allow(client):
            self.ctx.count("tls_rate")  # plaintext delivery still works
            return replies.too_many_tls_sessions(server.peer_ip)
        return None

    async def handle_MAIL(
        self, server: Speaker, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        problem = check_sender(address, smtputf8=bool(envelope.smtp_utf8))
        if problem:
            self.ctx.count("bad_sender")
            return problem
        size = next((o[5:] for o in options if o.startswith("SIZE=")), "0")
        if not self.ctx.budget.fits(int(size)):
            self.ctx.count("no_storage")
            return replies.NO_STORAGE
        if self.ctx.backlog.full:
            self.ctx.count("backlog")
            return replies.NO_STORAGE
        client = self.admission.client
        if not self.admission.exempt and not self.ctx.message_rate.allow(client):
            self.ctx.count("message_rate")
            log_event(log, "mail.rate_limited", peer=server.peer_ip, client=client)
            return replies.too_much_mail(server.peer_ip)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return replies.SENDER_OK

    async def handle_RCPT(
        self, server: Speaker, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        settings, client = self.ctx.settings, self.admission.client
        if (
            self.greeting.pregreeted
        ):  # docs/threat-model.md A10, "enforce": it talked before the greeting
            envelope.rejected = getattr(envelope, "rejected", 0) + 1
            log_event(log, "rcpt.rejected", peer=server.peer_ip, rcpt=escape(address),
                      mail_from=escape(envelope.mail_from or ""),
                      reply=replies.PREGREET_ENFORCED)  # fmt: skip
            return replies.PREGREET_ENFORCED
        if len(envelope.rcpt_tos) >= settings.max_recipients:
            self.ctx.count("too_many_recipients")
            self.errors.overshot()  # Postfix smtpd_recipient_overshoot_limit, per session
            return replies.TOO_MANY_RECIPIENTS
        if not self.admission.exempt and not self.ctx.recipient_rate.allow(client):
            self.ctx.count("recipient_rate")
            log_event(log, "rcpt.rate_limited", peer=server.peer_ip, client=client)
            return replies.too_many_recipients_from(server.peer_ip)
        problem = check_recipient(
            address,
            self.ctx.domains,
            smtputf8=bool(envelope.smtp_utf8),
            allow_literals=settings.allow_address_literals,
        )
        if problem:
            envelope.rejected = getattr(envelope, "rejected", 0) + 1
            self.ctx.count("relay_denied" if problem.startswith("550 5.7.1") else "bad_recipient")
            log_event(log, "rcpt.rejected", peer=server.peer_ip, rcpt=escape(address),
                      reply=problem)  # fmt: skip
            return problem
        checked = self.ctx.recipients  # MAILBUS_RECIPIENT_CHECK (listener.recipients)
        if checked is not None and (refused := await checked.check(address, envelope, session)):
            envelope.rejected = getattr(envelope, "rejected", 0) + 1
            self.ctx.count("no_mailbox" if refused[0] == "5" else "recipient_check")
            log_event(log, "rcpt.rejected", peer=server.peer_ip, rcpt=escape(address),
                      reply=refused)  # fmt: skip
            return refused
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return replies.RECIPIENT_OK
