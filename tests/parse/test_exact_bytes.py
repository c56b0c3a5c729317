"""Issue 12 defect 1: a part's bytes are sliced from the message as received, never rewritten.

Line endings are normalised only where a text body is decoded to `str`; every attachment keeps
the bytes, size and sha256 the sender sent, whatever its transfer encoding.
"""

from __future__ import annotations

import base64
import hashlib

from mailbus.parse import parse

CSV = b"id,name\r\n1,caf\xc3\xa9\r\n2,bar\r\n"
BINARY = bytes(range(256)) * 3 + b"\r\rx\n\n\r\n\x00\r"
EIGHT_BIT = b"line one\r\nbare lf\nbare cr\rend \xe9\r\n"
INNER = b"From: Carol <carol@example.net>\r\nSubject: inner\r\n\r\ninner line 1\r\ninner line 2\r\n"


def _message() -> bytes:
    return (
        b'Subject: exact\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n'
        b"\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\nsecond line\r\n"
        b"--b1\r\nContent-Type: text/csv; name=data.csv\r\nContent-Transfer-Encoding: 7bit\r\n"
        b"Content-Disposition: attachment; filename=data.csv\r\n\r\n" + CSV + b"\r\n"
        b"--b1\r\nContent-Type: application/octet-stream; name=blob.bin\r\n"
        b"Content-Transfer-Encoding: binary\r\n\r\n" + BINARY + b"\r\n"
        b"--b1\r\nContent-Type: application/x-raw; name=raw.txt\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + EIGHT_BIT + b"\r\n"
        b"--b1\r\nContent-Type: message/rfc822\r\n\r\n" + INNER + b"\r\n"
        b"--b1--\r\n"
    )


def test_attachments_keep_the_bytes_as_sent() -> None:
    msg = parse(_message())
    by_name = {a.filename: a for a in msg.attachments}
    for name, sent in (("data.csv", CSV), ("blob.bin", BINARY), ("raw.txt", EIGHT_BIT)):
        att = by_name[name]
        assert att.read() == sent, name
        assert (att.size, att.sha256) == (len(sent), hashlib.sha256(sent).hexdigest())


def test_forwarded_message_keeps_its_crlf_bytes() -> None:
    fwd = next(a for a in parse(_message()).attachments if a.is_message)
    assert fwd.read() == INNER


def test_text_body_is_still_decoded_with_lf_line_ends() -> None:
    assert parse(_message()).text == "Hello\nsecond line"


def test_binary_part_with_bare_cr_does_not_change_the_headers() -> None:
    msg = parse(_message())
    assert msg.subject == "exact"
    assert [a.filename for a in msg.attachments][:3] == ["data.csv", "blob.bin", "raw.txt"]


def test_lf_only_file_keeps_its_lf_bytes() -> None:
    raw = _message().replace(b"\r\n", b"\n")
    att = next(a for a in parse(raw).attachments if a.filename == "data.csv")
    assert att.read() == CSV.replace(b"\r\n", b"\n")


def test_quoted_printable_soft_breaks_over_crlf() -> None:
    raw = (
        b"Subject: qp\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
        b"Content-Type: application/x-thing; name=q.bin\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nab=\r\ncd=0D=0Aef\r\n--q--\r\n"
    )
    assert parse(raw).attachments[0].read() == b"abcd\r\nef"


def test_base64_forwarded_message_keeps_its_decoded_bytes() -> None:
    inner = b"\xef\xbb\xbf" + INNER  # a BOM the walk skips, but the attachment keeps
    raw = (
        b"Subject: fwd\r\nContent-Type: multipart/mixed; boundary=f\r\n\r\n--f\r\n"
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(inner) + b"--f--\r\n"
    )  # fmt: skip
    msg = parse(raw)
    fwd = next(a for a in msg.attachments if a.is_message)
    assert fwd.read() == inner
    assert "byte_order_mark" in [d.kind for d in msg.defects]
