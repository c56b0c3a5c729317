"""The messages the interop tests send: plain ASCII, 8-bit MIME, SMTPUTF8 and a large attachment.

Each subject carries a fresh token, so a test finds its own records among everything the shared
stack's handler has written. Lines end in CRLF, as on the wire: smtplib's `data()` sends bytes
as they are, and a bare LF would be a different message.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from email import policy
from email.message import EmailMessage

EIGHT_BIT_TEXT = "Grüße aus Köln: 15 € für die Brötchen.\n"


def subject(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:12]}"


def ascii_message(title: str, to: str = "support@example.com") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ada Lovelace <ada@sender.test>"
    msg["To"] = to
    msg["Subject"] = title
    msg.set_content("Plain seven-bit text.\n")
    return msg.as_bytes(policy=policy.SMTP)


def eight_bit_message(title: str) -> bytes:
    """UTF-8 in the body as raw 8-bit bytes (Content-Transfer-Encoding: 8bit), ASCII headers."""
    msg = EmailMessage()
    msg["From"] = "Ada Lovelace <ada@sender.test>"
    msg["To"] = "support@example.com"
    msg["Subject"] = title
    msg.set_content(EIGHT_BIT_TEXT, cte="8bit")
    raw = msg.as_bytes(policy=policy.SMTP)
    assert "Grüße".encode() in raw
    return raw


def utf8_email(title: str, mail_from: str, to: str) -> EmailMessage:
    """RFC 6532: raw UTF-8 in the headers and addresses, only deliverable with SMTPUTF8."""
    msg = EmailMessage(policy=policy.SMTPUTF8)
    msg["From"] = f"José <{mail_from}>"
    msg["To"] = to
    msg["Subject"] = title
    msg.set_content(EIGHT_BIT_TEXT, cte="8bit")
    return msg


def utf8_message(title: str, mail_from: str, to: str) -> bytes:
    return utf8_email(title, mail_from, to).as_bytes(policy=policy.SMTPUTF8)


def attachment_message(title: str, size: int) -> tuple[bytes, str]:
    """A message with `size` random bytes attached; returns it and the attachment's sha256."""
    payload = os.urandom(size)
    msg = EmailMessage()
    msg["From"] = "Ada Lovelace <ada@sender.test>"
    msg["To"] = "support@example.com"
    msg["Subject"] = title
    msg.set_content("The data set is attached.\n")
    msg.add_attachment(payload, maintype="application", subtype="octet-stream", filename="data.bin")
    return msg.as_bytes(policy=policy.SMTP), hashlib.sha256(payload).hexdigest()
