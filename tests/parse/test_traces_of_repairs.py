"""Repairs the parser makes silently must leave a trace in `msg.defects` (issue 9, defect 7):
bare LF line ends in a CRLF message (what the listener accepts "with a note") and NUL bytes
removed from text."""

from __future__ import annotations

from mailbus import Router
from mailbus.envelope import Envelope
from mailbus.message import Defect
from mailbus.parse import parse
from mailbus.testing import deliver
from mailbus.trace import trace_headers


def kinds(raw: bytes) -> list[str]:
    return [d.kind for d in parse(raw).defects]


def test_bare_lf_in_a_crlf_message_is_a_defect() -> None:
    msg = parse(b"Subject: mixed\r\nFrom: a@example.org\r\n\r\nline one\nline two\r\n")
    assert msg.text == "line one\nline two\n"
    assert Defect("", "bare_lf_line_endings", "1 bare LF") in msg.defects


def test_bare_lf_behind_the_listeners_trace_block_is_a_defect() -> None:
    envelope = Envelope(mail_from="a@example.org", rcpt_tos=("b@example.com",))
    received = b"Subject: unix mailer\nFrom: a@example.org\n\nline\n"
    msg = parse(trace_headers(envelope, "01TEST", "mx.test") + received, envelope)
    assert msg.subject == "unix mailer"
    assert "bare_lf_line_endings" in [d.kind for d in msg.defects]


def test_consistent_line_ends_are_not_a_defect() -> None:
    assert "bare_lf_line_endings" not in kinds(b"Subject: crlf\r\n\r\nline\r\nline\r\n")
    assert "bare_lf_line_endings" not in kinds(b"Subject: a file on disk\n\nline\nline\n")


def test_nul_removed_from_a_single_part_body_is_a_defect() -> None:
    msg = parse(b"Subject: nul\r\nContent-Type: text/plain\r\n\r\nab\x00c\x00d\r\n")
    assert msg.text == "abcd\n"
    assert Defect("", "nul_removed", "2 NUL") in msg.defects


def test_nul_removed_names_the_part_it_was_removed_from() -> None:
    msg = parse(
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nclean\r\n"
        b"--b\r\nContent-Type: text/html\r\n\r\n<p>dir\x00ty</p>\r\n--b--\r\n"
    )
    assert msg.html == "<p>dirty</p>"
    assert [d for d in msg.defects if d.kind == "nul_removed"] == [
        Defect("2", "nul_removed", "1 NUL")
    ]


def test_nul_removed_from_a_header_is_a_defect() -> None:
    msg = parse(b"Subject: a\x00b\r\n\r\nbody\r\n")
    assert "\x00" not in msg.headers[0].value_raw
    assert Defect("", "nul_removed", "Subject") in msg.defects


def test_deliver_gives_an_lf_only_file_smtp_line_ends_not_a_bare_lf_defect() -> None:
    router = Router()
    router.route(to="*@example.com")(lambda msg: None)
    delivery = deliver(router, b"Subject: saved on unix\nTo: b@example.com\n\nline\n")
    assert delivery.message.subject == "saved on unix"
    assert "bare_lf_line_endings" not in [d.kind for d in delivery.message.defects]
