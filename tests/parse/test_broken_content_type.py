"""Issue 12 defect 7: a multipart Content-Type with one character lost or wrong before `boundary=`
is recovered as multipart when the boundary is evident from the body, with a defect."""

from __future__ import annotations

import pytest

from mailbus.parse import parse


def _message(content_type: bytes, boundary: bytes = b"Part_B1") -> bytes:
    return (
        b"Subject: x\r\nContent-Type: " + content_type + b"\r\n\r\npreamble\r\n--" + boundary
        + b"\r\nContent-Type: text/plain\r\n\r\nbody text\r\n--" + boundary
        + b"\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\n%PDF-1.4\r\n--" + boundary
        + b"--\r\n"
    )  # fmt: skip


@pytest.mark.parametrize(
    "content_type",
    [
        b'multipart/mixedboundary="Part_B1"',
        b'multipart/mixed, boundary="Part_B1"',
        b"multipart/mixed: boundary=Part_B1",
        b'multipart/mixed boundary="Part_B1"',
    ],
    ids=["no-separator", "comma", "colon", "space"],
)
def test_broken_separator_before_boundary_is_recovered(content_type: bytes) -> None:
    msg = parse(_message(content_type))
    assert msg.text == "body text"
    assert [a.filename for a in msg.attachments] == ["a.pdf"]
    kinds = {d.kind for d in msg.defects}
    assert kinds & {"content_type_repaired", "missing_parameter_separator"}


def test_a_boundary_that_is_not_in_the_body_is_guessed_from_the_body() -> None:
    msg = parse(_message(b'multipart/mixed,boundary="other"'))
    assert msg.text == "body text"
    assert {"content_type_repaired", "boundary_guessed"} <= {d.kind for d in msg.defects}


def test_broken_non_multipart_type_is_still_plain_text() -> None:
    msg = parse(b"Subject: x\r\nContent-Type: text/html, charset=utf-8\r\n\r\nhello\r\n")
    assert msg.text == "hello\n"
