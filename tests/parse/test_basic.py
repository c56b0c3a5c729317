"""The everyday message: headers, addresses, alternative bodies, one attachment, to_dict()."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from mailbus.envelope import Envelope
from mailbus.parse import ParseLimits, parse

PDF = b"%PDF-1.4\n%\xc7\xec\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

PLAIN_ALT_ATTACHMENT = b"\r\n".join(
    [
        b'From: "Alice Example" <alice+orders@example.com>',
        b"To: Bob <bob@example.org>, carol@example.net",
        b"Cc: =?utf-8?Q?D=C3=A9sir=C3=A9e?= <desiree@example.org>",
        b"Subject: =?utf-8?B?UXVhcnRlcmx5IHJlcG9ydA==?=",
        b"Date: Tue, 02 Jan 2024 10:30:00 +0100",
        b"Message-ID: <m1@example.com>",
        b"In-Reply-To: <m0@example.com>",
        b"References: <a@x> <m0@example.com>",
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="outer"',
        b"",
        b"This is a multi-part message in MIME format.",
        b"--outer",
        b'Content-Type: multipart/alternative; boundary="alt"',
        b"",
        b"--alt",
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Transfer-Encoding: quoted-printable",
        b"",
        b"Hi Bob, the report is attached. Caf=C3=A9?",
        b"",
        b"On Mon, 1 Jan 2024 Bob wrote:",
        b"> send it please",
        b"--alt",
        b"Content-Type: text/html; charset=utf-8",
        b"",
        b"<p>Hi Bob, the report is attached.</p>",
        b"--alt--",
        b"--outer",
        b'Content-Type: application/pdf; name="report.pdf"',
        b'Content-Disposition: attachment; filename="report.pdf"',
        b"Content-Transfer-Encoding: base64",
        b"",
        base64.encodebytes(PDF).replace(b"\n", b"\r\n").rstrip(),
        b"--outer--",
        b"",
    ]
)


def test_plain_alternative_with_attachment() -> None:
    msg = parse(PLAIN_ALT_ATTACHMENT, Envelope(mail_from="alice@example.com", received_at=1.0))
    assert msg.subject == "Quarterly report"
    assert msg.from_ is not None
    assert (msg.from_.name, msg.from_.email, msg.from_.tag) == (
        "Alice Example",
        "alice+orders@example.com",
        "orders",
    )
    assert [(a.name, a.email) for a in msg.to] == [
        ("Bob", "bob@example.org"),
        ("", "carol@example.net"),
    ]
    assert msg.cc[0].name == "Désirée"
    assert msg.text is not None and msg.text.startswith("Hi Bob, the report is attached. Café?")
    assert msg.html == "<p>Hi Bob, the report is attached.</p>"
    assert msg.stripped_text == "Hi Bob, the report is attached. Café?"
    assert msg.date.parsed == datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
    assert msg.message_id == "<m1@example.com>"
    assert msg.in_reply_to == "<m0@example.com>"
    assert msg.references == ["<a@x>", "<m0@example.com>"]
    assert msg.received_at == datetime.fromtimestamp(1.0, UTC)
    [att] = msg.attachments
    assert (att.filename, att.content_type, att.detected_type) == (
        "report.pdf",
        "application/pdf",
        "application/pdf",
    )
    assert att.read() == PDF and att.size == len(PDF)
    assert att.disposition == "attachment" and not att.is_inline and not att.is_message
    assert msg.defects == [] and msg.limits_hit == []
    assert msg.raw.size == len(PLAIN_ALT_ATTACHMENT)


def test_to_dict_is_json_and_has_no_bytes() -> None:
    msg = parse(PLAIN_ALT_ATTACHMENT, msg_id="m-1", raw_key="raw/m-1")
    data = json.loads(json.dumps(msg.to_dict()))
    assert data["id"] == "m-1" and data["raw"]["key"] == "raw/m-1"
    assert data["attachments"][0]["filename"] == "report.pdf"
    assert "_content" not in data["attachments"][0]
    assert data["from_"]["email"] == "alice+orders@example.com"
    assert data["date"]["parsed"] == "2024-01-02T10:30:00+01:00"
    assert data["envelope"]["rcpt_tos"] == []


def test_headers_kept_in_order_with_duplicates_raw_and_decoded() -> None:
    raw = b"Received: a\r\nReceived: b\r\nSubject: =?utf-8?Q?x=C3=A9?=\r\n\r\nbody\r\n"
    msg = parse(raw)
    assert [(h.name, h.value_raw, h.value) for h in msg.headers] == [
        ("Received", "a", "a"),
        ("Received", "b", "b"),
        ("Subject", "=?utf-8?Q?x=C3=A9?=", "xé"),
    ]
    assert msg.text == "body\n"


def test_never_raises_on_junk() -> None:
    for junk in (b"", b"\x00\xff" * 100, b"\r\n\r\n", b":", b"Content-Type: multipart/mixed\r\n"):
        msg = parse(junk)
        assert msg.raw.size == len(junk)


def test_parse_limits_is_frozen_with_documented_defaults() -> None:
    limits = ParseLimits()
    assert (limits.max_parts, limits.max_depth, limits.max_header_bytes) == (1000, 50, 1 << 20)
