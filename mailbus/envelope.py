"""The SMTP envelope: who the sending MTA said the message is from and for (not the headers).

It travels from the listener to the workers as JSON primitives in the job arguments, so it stays a
small frozen dataclass with `to_dict` / `from_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Envelope:
    """What the SMTP transaction said; handlers route on `rcpt_tos`, never on the To: header."""

    mail_from: str = ""
    rcpt_tos: tuple[str, ...] = ()
    helo: str = ""
    peer: str = ""
    tls: bool = False
    smtputf8: bool = False
    received_at: float = 0.0
    mail_options: tuple[str, ...] = field(default=())
    # What the listener noticed in the DATA bytes, which it stores verbatim: bare_lf, bare_cr,
    # nul, smuggling_suspect (MAILBUS_BARE_LF=accept); the parser reports them as defects.
    notes: tuple[str, ...] = field(default=())
    source: str = "smtp"  # or the provider whose webhook handed it over: ses, mailgun, ...
    source_id: str = ""  # the provider's own id for the message (HTTP ingress only)

    def to_dict(self) -> dict[str, Any]:
        """Field by field, in declaration order: `asdict` deep-copies and costs ten times more."""
        return {
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "helo": self.helo,
            "peer": self.peer,
            "tls": self.tls,
            "smtputf8": self.smtputf8,
            "received_at": self.received_at,
            "mail_options": list(self.mail_options),
            "notes": list(self.notes),
            "source": self.source,
            "source_id": self.source_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Envelope:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["rcpt_tos"] = tuple(known.get("rcpt_tos", ()))
        known["mail_options"] = tuple(known.get("mail_options", ()))
        known["notes"] = tuple(known.get("notes", ()))
        return cls(**known)
