"""Issue 12 defect 6: base64 decodes what precedes junk after the padding, with a defect."""

from __future__ import annotations

import pytest

from mailbus.parse import parse


def _attachment(body: bytes) -> bytes:
    return (
        b"Subject: b64\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: application/octet-stream; name=x.bin\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body + b"\r\n--b--\r\n"
    )


@pytest.mark.parametrize(
    "body",
    [
        b"SGVsbG8gd29ybGQ=\r\n-- \r\nSent from the list server\r\n",
        b"SGVsbG8gd29ybGQ=\r\nX",
        b"SGVsbG8gd29ybGQ=V29ybGQ=",
    ],
    ids=["signature", "one-char", "padding-in-the-middle"],
)
def test_junk_after_padding_is_dropped_with_a_defect(body: bytes) -> None:
    msg = parse(_attachment(body))
    assert msg.attachments[0].read() == b"Hello world"
    assert "base64_data_after_padding" in [d.kind for d in msg.defects]


def test_clean_padded_base64_has_no_defect() -> None:
    msg = parse(_attachment(b"SGVsbG8gd29y\r\nbGQ=\r\n\r\n"))
    assert msg.attachments[0].read() == b"Hello world"
    assert msg.defects == []
