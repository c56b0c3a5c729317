"""A message whose only body is inside winmail.dat (TNEF) gets that body as `text`/`html`."""

from __future__ import annotations

import base64
import struct

from compressed_rtf import compress

from mailbus.parse import parse
from tests.parse.test_structure import make_tnef

HTML = b"<html><body><p>Body only in <b>TNEF</b></p></body></html>"


def _attr(level: int, attr_id: int, attr_type: int, data: bytes) -> bytes:
    head = struct.pack("<BHHI", level, attr_id, attr_type, len(data))
    return head + data + struct.pack("<H", sum(data) & 0xFFFF)


def _binary(data: bytes) -> bytes:
    """One binary MAPI value: count 1, length, data padded to 4 bytes."""
    return struct.pack("<II", 1, len(data)) + data + b"\x00" * (-len(data) % 4)


def _html_props(html: bytes) -> bytes:
    """MAPI properties holding PR_BODY_HTML (0x1013, binary): count, type, id, value."""
    return struct.pack("<IHH", 1, 0x0102, 0x1013) + _binary(html)


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


def test_rtf_only_body_inside_tnef_becomes_the_text() -> None:
    rtf = (
        b"{\\rtf1\\ansi\\ansicpg1252 {\\fonttbl\\f0 Arial;}\\f0 Hello from \\b RTF\\b0 , "
        b"caf\\'e9.\\par second line\\par}"
    )
    props = struct.pack("<IHH", 1, 0x0102, 0x1009) + _binary(compress(rtf))
    msg = parse(_message(make_tnef([]) + _attr(1, 0x9003, 0x0006, props)))
    assert msg.text == "Hello from RTF, café.\nsecond line"


def test_a_body_outside_the_tnef_wins() -> None:
    blob = make_tnef([]) + _attr(1, 0x800C, 0x0002, b"inside")
    assert parse(_message(blob, b"outside")).text == "outside"
