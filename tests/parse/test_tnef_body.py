"""A message whose only body is inside winmail.dat (TNEF) gets that body as `text`/`html`."""

from __future__ import annotations

import base64
import struct

from mailbus.parse import parse
from tests.parse.test_structure import make_tnef

HTML = b"<html><body><p>Body only in <b>TNEF</b></p></body></html>"


def _attr(level: int, attr_id: int, attr_type: int, data: bytes) -> bytes:
    head = struct.pack("<BHHI", level, attr_id, attr_type, len(data))
    return head + data + struct.pack("<H", sum(data) & 0xFFFF)


def _html_props(html: bytes) -> bytes:
    """MAPI properties holding PR_BODY_HTML (0x1013, binary): count, type, id, 1 value."""
    padded = html + b"\x00" * (-len(html) % 4)
    return struct.pack("<IHHII", 1, 0x0102, 0x1013, 1, len(html)) + padded


def _message(blob: bytes, outer_body: bytes = b"") -> bytes:
    body = b"--b\r\nContent-Type: text/plain\r\n\r\n" + outer_body + b"\r\n" if outer_body else b""
    return (
        b'Subject: from outlook\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' + body
        + b'--b\r\nContent-Type: application/ms-tnef; name="winmail.dat"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(blob).replace(b"\n", b"\r\n") + b"--b--\r\n"
    )  # fmt: skip


def test_plain_body_inside_tnef_becomes_the_text() -> None:
    blob = make_tnef([(b"a.txt", b"file")]) + _attr(1, 0x800C, 0x0002, b"Hello from\r\nOutlook")
    msg = parse(_message(blob))
    assert msg.text == "Hello from\nOutlook"
    assert msg.stripped_text == "Hello from\nOutlook"
    assert [a.filename for a in msg.attachments] == ["winmail.dat", "a.txt"]


def test_html_body_inside_tnef_becomes_the_html() -> None:
    blob = make_tnef([]) + _attr(1, 0x9003, 0x0006, _html_props(HTML))
    msg = parse(_message(blob))
    assert msg.html == HTML.decode()
    assert msg.text == "Body only in TNEF" and msg.text_from_html


def test_a_body_outside_the_tnef_wins() -> None:
    blob = make_tnef([]) + _attr(1, 0x800C, 0x0002, b"inside")
    assert parse(_message(blob, b"outside")).text == "outside"
