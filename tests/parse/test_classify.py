"""Auto-replies (RFC 3834 and Outlook), DSN bounces, ARF reports and calendar invites."""

from __future__ import annotations

import pytest

from mailbus.parse import parse


def _msg(*headers: bytes, body: bytes = b"body") -> bytes:
    return b"\r\n".join([*headers, b"", body])


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ((b"Auto-Submitted: auto-replied",), "auto-submitted: auto-replied"),
        ((b"Auto-Submitted: auto-generated; owner-email=x@y",), "auto-submitted: auto-generated"),
        ((b"X-Autoreply: yes",), "x-autoreply"),
        ((b"Precedence: auto_reply",), "precedence: auto_reply"),
        (
            (b"Subject: Automatic reply: your invoice", b"X-Auto-Response-Suppress: All"),
            "outlook auto-reply",
        ),
        ((b"Subject: Out of Office: back Monday",), "subject"),
        ((b"Subject: Auto-Reply: thanks", b"Precedence: bulk"), "subject + precedence: bulk"),
    ],
)
def test_auto_replies(headers: tuple[bytes, ...], reason: str) -> None:
    msg = parse(_msg(b"From: a@example.com", *headers))
    assert msg.classification.auto_reply
    assert msg.classification.auto_reply_reason == reason


@pytest.mark.parametrize(
    "headers",
    [
        (b"Auto-Submitted: no",),
        (b"Precedence: bulk", b"List-Id: <news.example.com>", b"Subject: Weekly news"),
        (b"Subject: Re: out of office plans for next week",),
    ],
)
def test_not_auto_replies(headers: tuple[bytes, ...]) -> None:
    msg = parse(_msg(*headers))
    assert not msg.classification.auto_reply
    assert msg.classification.auto_reply_reason is None


DSN = b"""From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
To: sender@example.com
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"

--dsn
Content-Type: text/plain

I could not deliver your message to two recipients.
--dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
Arrival-Date: Tue, 2 Jan 2024 10:00:00 +0000

Final-Recipient: rfc822; gone@example.org
Original-Recipient: rfc822;Gone@Example.org
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <gone@example.org>: Recipient address rejected:
  User unknown

Final-Recipient: rfc822; slow@example.org
Action: delayed
Status: 4.4.1 (connection timed out)
--dsn
Content-Type: message/rfc822

From: sender@example.com
To: gone@example.org
Subject: hello

hi
--dsn--
"""


def test_dsn_bounce_recipients() -> None:
    msg = parse(DSN)
    bounce = msg.classification.bounce
    assert bounce is not None and bounce.is_dsn
    assert bounce.reporting_mta == "mx.example.org"
    first, second = bounce.recipients
    assert (first.final_recipient, first.action, first.status) == (
        "gone@example.org",
        "failed",
        "5.1.1",
    )
    assert first.diagnostic.startswith("550 5.1.1 <gone@example.org>: Recipient address rejected:")
    assert first.diagnostic.endswith("User unknown")
    assert first.original_recipient == "Gone@Example.org"
    assert (second.final_recipient, second.action, second.status) == (
        "slow@example.org",
        "delayed",
        "4.4.1",
    )
    assert msg.text == "I could not deliver your message to two recipients."
    assert [a.content_type for a in msg.attachments] == ["message/rfc822"]
    assert msg.classification.auto_reply


def test_non_dsn_bounce_is_recognised_by_sender_and_subject() -> None:
    msg = parse(
        _msg(b"From: MAILER-DAEMON@mx.example.org", b"Subject: failure notice", body=b"sorry")
    )
    assert msg.classification.bounce is not None
    assert not msg.classification.bounce.is_dsn


ARF = b"""From: abuse@mailbox.example
Subject: FW: spam report
Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

--arf
Content-Type: text/plain

This is an email abuse report.
--arf
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <bulk@sender.example>
Original-Rcpt-To: <user@mailbox.example>
Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT
Source-IP: 192.0.2.1
Reported-Domain: sender.example
--arf
Content-Type: message/rfc822

From: bulk@sender.example
Subject: buy now

spam
--arf--
"""


def test_arf_feedback_report() -> None:
    report = parse(ARF).classification.feedback_report
    assert report is not None
    assert (report.feedback_type, report.source_ip) == ("abuse", "192.0.2.1")
    assert report.original_rcpt_to == ["<user@mailbox.example>"]
    assert report.reported_domain == "sender.example"


def test_calendar_invite_method_from_parameter_or_body() -> None:
    ics = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    raw = (
        b'Content-Type: multipart/alternative; boundary="c"\r\n\r\n'
        b"--c\r\nContent-Type: text/plain\r\n\r\nYou are invited\r\n"
        b"--c\r\nContent-Type: text/calendar; charset=utf-8\r\n\r\n" + ics + b"--c--\r\n"
    )
    msg = parse(raw)
    assert msg.classification.calendar_method == "REQUEST"
    assert [b.content_type for b in msg.other_bodies] == ["text/calendar"]
    cancel = parse(b"Content-Type: text/calendar; method=CANCEL\r\n\r\nBEGIN:VCALENDAR\r\n")
    assert cancel.classification.calendar_method == "CANCEL"


def test_stripped_text_drops_quotes_and_signature() -> None:
    body = (
        b"Thanks, that works.\r\n\r\n-- \r\nBob\r\n\r\n"
        b"On Tue, 2 Jan 2024 at 10:00, Alice <alice@example.com>\r\nwrote:\r\n> question?\r\n"
    )
    msg = parse(_msg(b"Subject: Re: q", body=body))
    assert msg.stripped_text == "Thanks, that works."
    outlook = parse(
        _msg(body=b"Yes.\r\n\r\nFrom: Alice\r\nSent: Tuesday\r\nTo: Bob\r\nSubject: q\r\n\r\nq?")
    )
    assert outlook.stripped_text == "Yes."
