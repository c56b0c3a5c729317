"""Forwarded messages, TNEF, recovered parts, inline images, HTML-only mail and address groups."""

from __future__ import annotations

import base64
import struct

from mailbus.parse import parse

INNER = (
    b"From: Carol <carol@example.net>\r\nSubject: the original\r\n"
    b'Content-Type: multipart/mixed; boundary="in"\r\n\r\n'
    b"--in\r\nContent-Type: text/plain\r\n\r\ninner body\r\n"
    b'--in\r\nContent-Type: text/csv; name="data.csv"\r\n'
    b"Content-Disposition: attachment; filename=data.csv\r\n\r\na,b\r\n1,2\r\n--in--\r\n"
)


def _forward(inner: bytes, cte: bytes = b"") -> bytes:
    return (
        b'Subject: Fwd: the original\r\nContent-Type: multipart/mixed; boundary="out"\r\n\r\n'
        b"--out\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
        b"--out\r\nContent-Type: message/rfc822\r\n" + cte + b"\r\n" + inner + b"\r\n--out--\r\n"
    )


def test_forwarded_message_is_one_attachment_with_children() -> None:
    msg = parse(_forward(INNER))
    assert msg.text == "see below"
    fwd, csv = msg.attachments
    assert fwd.is_message and fwd.content_type == "message/rfc822" and fwd.parent is None
    assert fwd.read().startswith(b"From: Carol")
    assert fwd.filename == "attachment-1.eml"
    assert (csv.filename, csv.parent, csv.read()) == ("data.csv", 0, b"a,b\r\n1,2")


def test_base64_encoded_message_rfc822_is_decoded_and_walked() -> None:
    encoded = base64.encodebytes(INNER).replace(b"\n", b"\r\n")
    msg = parse(_forward(encoded, b"Content-Transfer-Encoding: base64\r\n"))
    assert [a.filename for a in msg.attachments] == ["attachment-1.eml", "data.csv"]
    assert msg.attachments[0].read().startswith(b"From: Carol")
    assert any(d.kind == "encoding_domain" for d in msg.defects)


def _tnef_attr(level: int, attr_id: int, attr_type: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return (
        struct.pack("<BHHI", level, attr_id, attr_type, len(data))
        + data
        + struct.pack("<H", checksum)
    )


def make_tnef(files: list[tuple[bytes, bytes]]) -> bytes:
    """A minimal TNEF stream: signature, key, and per file rend-data, title and data attributes."""
    blob = struct.pack("<IH", 0x223E9F78, 0x0001)
    blob += _tnef_attr(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))
    for name, data in files:
        blob += _tnef_attr(2, 0x9002, 0x0006, b"\x01\x00" + b"\x00" * 12)
        blob += _tnef_attr(2, 0x8010, 0x0001, name + b"\x00")
        blob += _tnef_attr(2, 0x800F, 0x0006, data)
    return blob


def _with_tnef(blob: bytes) -> bytes:
    return (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nplease see attached\r\n"
        b'--b\r\nContent-Type: application/ms-tnef; name="winmail.dat"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(blob).replace(b"\n", b"\r\n")
        + b"--b--\r\n"
    )


def test_tnef_winmail_dat_is_unpacked_under_its_attachment() -> None:
    blob = make_tnef([(b"notes.txt", b"hello from outlook"), (b"doc.pdf", b"%PDF-1.4 tiny")])
    msg = parse(_with_tnef(blob))
    winmail, notes, pdf = msg.attachments
    assert winmail.filename == "winmail.dat" and winmail.read() == blob
    assert (notes.filename, notes.read(), notes.parent) == ("notes.txt", b"hello from outlook", 0)
    assert (pdf.filename, pdf.detected_type, pdf.parent) == ("doc.pdf", "application/pdf", 0)


def test_broken_tnef_is_kept_as_an_opaque_attachment() -> None:
    blob = make_tnef([(b"x.txt", b"data")])[:25]
    msg = parse(_with_tnef(blob))
    assert [a.filename for a in msg.attachments] == ["winmail.dat"]
    assert msg.attachments[0].read() == blob


def test_part_in_epilogue_and_uuencoded_file_are_recovered() -> None:
    uu = b"begin 644 hello.txt\r\n%:&5L;&\\`\r\n`\r\nend\r\n"
    raw = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nold school:\r\n" + uu + b"--b--\r\n\r\n"
        b'--other\r\nContent-Type: image/gif; name="lost.gif"\r\nContent-Transfer-Encoding: base64'
        b"\r\n\r\nR0lGODlhAQABAAAAACw=\r\n--other--\r\n"
    )
    msg = parse(raw)
    names = sorted(a.filename for a in msg.attachments)
    assert names == ["hello.txt", "lost.gif"]
    assert next(a for a in msg.attachments if a.filename == "hello.txt").read() == b"hello"
    assert any(d.kind == "part_outside_boundaries" for d in msg.defects)


def test_inline_image_goes_to_cid_map() -> None:
    raw = (
        b'Content-Type: multipart/related; boundary="r"\r\n\r\n'
        b'--r\r\nContent-Type: text/html\r\n\r\n<img src="cid:logo@x">\r\n'
        b"--r\r\nContent-Type: image/gif\r\nContent-ID: <logo@x>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nR0lGODlhAQABAAAAACw=\r\n--r--\r\n"
    )
    msg = parse(raw)
    [logo] = msg.attachments
    assert logo.is_inline and logo.content_id == "logo@x" and logo.detected_type == "image/gif"
    assert msg.cid_map == {"logo@x": logo}
    assert msg.to_dict()["cid_map"] == {"logo@x": 0}


def test_html_only_message_gets_derived_text() -> None:
    raw = (
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><style>p{}</style></head><body><p>Hello&nbsp;there</p>"
        b"<p>second &amp; last</p><script>x()</script></body></html>"
    )
    msg = parse(raw)
    assert msg.html is not None and msg.text_from_html
    assert msg.text == "Hello there\n\nsecond & last"


def test_unlisted_recipients_group_and_named_groups() -> None:
    msg = parse(
        b"To: unlisted-recipients:;\r\nCc: Team: a@x.org, B <b@x.org>;, c@y.org\r\n\r\nb\r\n"
    )
    assert msg.to == []
    assert [(a.email, a.group) for a in msg.cc] == [
        ("a@x.org", "Team"),
        ("b@x.org", "Team"),
        ("c@y.org", None),
    ]
    assert msg.defects == []


def test_ambiguous_addresses_do_not_crash() -> None:
    msg = parse(
        b"From: alice@example.org)<bob@example.org>\r\n"
        b'To: "a@evil.com" <b@example.com>, user@example.com@evil.com\r\n\r\nb\r\n'
    )
    assert msg.from_ is not None and msg.from_.email == "bob@example.org"
    assert msg.to[0].email == "b@example.com" and msg.to[0].name == "a@evil.com"
    assert msg.to[1].domain == "evil.com"
