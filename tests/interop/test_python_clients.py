"""The Python clients applications send with, smtplib and aiosmtplib, talking to `mailbus listen`.

Each one goes through STARTTLS (the listener's certificate is self-signed, so verification is
off) and lets the library pick its MAIL options from what the listener advertises.
"""

from __future__ import annotations

import asyncio
import email
import smtplib
import ssl
from email import policy
from email.message import EmailMessage

import aiosmtplib
import pytest

from tests.interop import messages
from tests.interop.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.interop]


def unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_smtplib_send_message_with_unicode_addresses(stack: Stack) -> None:
    """smtplib adds SMTPUTF8 and BODY=8BITMIME by itself for international addresses."""
    title = messages.subject("smtplib Grüße")
    mail_from, to = "josé@sender.test", "ñandú@example.com"
    msg = messages.utf8_email(title, mail_from, to)
    with smtplib.SMTP("127.0.0.1", stack.port, timeout=30) as smtp:
        smtp.starttls(context=unverified())
        assert smtp.send_message(msg) == {}
    (record,) = stack.wait_for(title)
    assert (record["tls"], record["smtputf8"]) == (True, True)
    assert (record["mail_from"], record["rcpt_tos"]) == (mail_from, [to])
    assert record["text"] == messages.EIGHT_BIT_TEXT


def test_smtplib_250_recipients_in_one_transaction_then_the_refused_ones(stack: Stack) -> None:
    """As an MTA does: one transaction with all 250 RCPTs, then again with those refused (452)."""
    title = messages.subject("smtplib 250")
    raw = messages.ascii_message(title)
    pending = [f"user{n:03}@example.com" for n in range(250)]
    with smtplib.SMTP("127.0.0.1", stack.port, timeout=60) as smtp:
        while pending:
            refused = smtp.sendmail("ada@sender.test", pending, raw)
            assert {code for code, _ in refused.values()} <= {452}, refused
            assert len(refused) < len(pending)
            pending = sorted(refused)
    records = stack.wait_until(lambda rs: sum(len(r["rcpt_tos"]) for r in rs) >= 250, title)
    assert sorted(rcpt for r in records for rcpt in r["rcpt_tos"]) == [
        f"user{n:03}@example.com" for n in range(250)
    ]


def aiosmtplib_send(stack: Stack, msg: EmailMessage) -> None:
    async def send() -> None:
        errors, reply = await aiosmtplib.send(
            msg, hostname="127.0.0.1", port=stack.port, start_tls=True, tls_context=unverified()
        )
        assert errors == {}
        assert reply.startswith("2.0.0 Ok: queued as "), reply

    asyncio.run(send())


def test_aiosmtplib_8bit_message(stack: Stack) -> None:
    title = messages.subject("aiosmtplib 8bit")
    aiosmtplib_send(stack, parsed(messages.eight_bit_message(title)))
    (record,) = stack.wait_for(title)
    assert record["tls"] is True
    assert "BODY=8BITMIME" in record["mail_options"]
    assert record["text"] == messages.EIGHT_BIT_TEXT


def test_aiosmtplib_unicode_addresses(stack: Stack) -> None:
    title = messages.subject("aiosmtplib Grüße")
    mail_from, to = "zoë@sender.test", "élan@example.com"
    aiosmtplib_send(stack, messages.utf8_email(title, mail_from, to))
    (record,) = stack.wait_for(title)
    assert record["smtputf8"] is True
    assert (record["mail_from"], record["rcpt_tos"]) == (mail_from, [to])


def test_aiosmtplib_5_mb_attachment(stack: Stack) -> None:
    title = messages.subject("aiosmtplib 5 MB")
    raw, digest = messages.attachment_message(title, 5 * 2**20)
    aiosmtplib_send(stack, parsed(raw))
    (record,) = stack.wait_for(title, timeout=60)
    (attachment,) = record["attachments"]
    assert (attachment["size"], attachment["sha256"]) == (5 * 2**20, digest)
