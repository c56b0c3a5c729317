"""MAIL and RCPT: whether this session may name this sender or this recipient now.

`Gate` is the session's aiosmtpd *handler* (aiosmtpd's public extension point): aiosmtpd parses
the MAIL/RCPT arguments (SIZE, BODY, SMTPUTF8) and calls `handle_MAIL`/`handle_RCPT` with the
address; the gate answers with the envelope rules (policy.py), the per-client rates and the
process's memory and queue guards (limits.py, load.py). One gate per session.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from listener import replies
from listener.context import ListenerContext
from listener.limits import Admission, ErrorCount
from listener.policy import check_recipient, check_sender
from mailbus.logs import escape, log_event

log = logging.getLogger("mailbus.listener")


class Speaker(Protocol):
    """What the gate uses of its session (the session satisfies it; no import of it here)."""

    peer_ip: str
    pregreeted: bool

    def count(self, reason: str) -> None: ...


class Gate:
    def __init__(self, ctx: ListenerContext, admission: Admission, errors: ErrorCount) -> None:
        self.ctx, self.admission, self.errors = ctx, admission, errors

    def __dir__(self) -> list[str]:
        """The hooks aiosmtpd looks for (it scans dir() of the handler on every connection)."""
        return ["handle_MAIL", "handle_RCPT"]

    async def handle_MAIL(
        self, server: Speaker, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        problem = check_sender(address, smtputf8=bool(envelope.smtp_utf8))
        if problem:
            server.count("bad_sender")
            return problem
        size = next((o[5:] for o in options if o.startswith("SIZE=")), "0")
        if not self.ctx.budget.fits(int(size)):
            server.count("no_storage")
            return replies.NO_STORAGE
        if self.ctx.backlog.full:
            server.count("backlog")
            return replies.NO_STORAGE
        client = self.admission.client
        if not self.admission.exempt and not self.ctx.message_rate.allow(client):
            server.count("message_rate")
            log_event(log, "mail.rate_limited", peer=server.peer_ip, client=client)
            return replies.too_much_mail(server.peer_ip)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return replies.SENDER_OK

    async def handle_RCPT(
        self, server: Speaker, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        settings, client = self.ctx.settings, self.admission.client
        if server.pregreeted:  # docs/threat-model.md A10, "enforce": it talked before the greeting
            envelope.rejected = getattr(envelope, "rejected", 0) + 1
            log_event(log, "rcpt.rejected", peer=server.peer_ip, rcpt=escape(address),
                      mail_from=escape(envelope.mail_from or ""),
                      reply=replies.PREGREET_ENFORCED)  # fmt: skip
            return replies.PREGREET_ENFORCED
        if len(envelope.rcpt_tos) >= settings.max_recipients:
            server.count("too_many_recipients")
            self.errors.overshot()  # Postfix smtpd_recipient_overshoot_limit, per session
            return replies.TOO_MANY_RECIPIENTS
        if not self.admission.exempt and not self.ctx.recipient_rate.allow(client):
            server.count("recipient_rate")
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
            server.count("relay_denied" if problem.startswith("550 5.7.1") else "bad_recipient")
            log_event(log, "rcpt.rejected", peer=server.peer_ip, rcpt=escape(address),
                      reply=problem)  # fmt: skip
            return problem
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return replies.RECIPIENT_OK
