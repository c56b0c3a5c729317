"""Issue 12 defects 2-4: raw 8-bit bytes in and around encoded words, legacy header charsets
detected over the whole message, and malformed or nested encoded words."""

from __future__ import annotations

import base64

import pytest

from mailbus.parse import parse

# (subject, display name, file name) in legacy charsets that declare nothing (defect 3).
LEGACY = {
    "gbk": ("会议纪要", "张伟", "季度报告.pdf"),
    "big5": ("會議記錄", "陳大文", "季度報告.pdf"),
    "shift_jis": ("会議の議事録", "山田太郎", "見積書.pdf"),
    "koi8_r": ("Отчёт за квартал", "Иван Петров", "отчёт.pdf"),
    "latin-1": ("Grüße aus Köln", "José Müller", "Übersicht.pdf"),
}


def _with_attachment(head: bytes, disposition: bytes) -> bytes:
    return (
        head + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; " + disposition + b"\r\n\r\n%PDF-1.4\r\n--b--\r\n"
    )


def test_raw_8bit_byte_inside_a_q_encoded_word_uses_its_charset() -> None:
    msg = parse(b"Subject: =?iso-8859-1?Q?Gr\xfcn_=FCber?= und Blau\r\n\r\nx\r\n")
    assert msg.subject == "Grün über und Blau"


def test_encoded_word_charset_wins_over_the_guess_for_other_bytes() -> None:
    # The raw bytes outside the word are KOI8-R; the word itself says ISO-8859-1.
    outside = "Отчёт за квартал".encode("koi8_r")
    raw = b"Subject: " + outside + b" =?iso-8859-1?Q?f\xfcr_Gr\xfcn?=\r\n\r\nx\r\n"
    assert parse(raw).subject == "Отчёт за квартал für Grün"


@pytest.mark.parametrize("codec", LEGACY)
def test_raw_8bit_headers_and_filenames_are_detected_together(codec: str) -> None:
    subject, name, filename = LEGACY[codec]
    head = b"From: " + name.encode(codec) + b" <a@example.com>\r\n"
    head += b"Subject: " + subject.encode(codec) + b"\r\n"
    msg = parse(_with_attachment(head, b'filename="' + filename.encode(codec) + b'"'))
    assert (msg.subject, msg.from_ and msg.from_.name) == (subject, name)
    assert msg.attachments[0].filename == filename
    assert "\ufffd" not in msg.subject + msg.attachments[0].filename


def test_raw_8bit_filename_prefers_the_charset_the_message_declares() -> None:
    filename = "見積書.pdf"
    raw = _with_attachment(
        b"Subject: =?shift_jis?B?" + base64.b64encode("お見積り".encode("shift_jis")) + b"?=\r\n",
        b'filename="' + filename.encode("shift_jis") + b'"',
    )
    assert parse(raw).attachments[0].filename == filename


@pytest.mark.parametrize(
    "header",
    [
        b"=?utf-8 ?Q?caf=C3=A9?=",
        b"=? utf-8?Q?caf=C3=A9?=",
        b"=?utf-8? Q ?caf=C3=A9?=",
        b"=?utf-8?B?" + base64.b64encode(b"=?utf-8?Q?caf=C3=A9?=") + b"?=",
    ],
    ids=["space-after-charset", "space-before-charset", "space-around-q", "nested"],
)
def test_malformed_and_nested_encoded_words_decode(header: bytes) -> None:
    msg = parse(b"Subject: " + header + b"\r\nX-Note: " + header + b"\r\n\r\nx\r\n")
    assert msg.subject == "café"
    assert msg.header("x-note") == "café"


def test_nested_encoded_word_in_a_filename_decodes() -> None:
    inner = base64.b64encode(b"=?utf-8?Q?r=C3=A9sum=C3=A9.pdf?=")
    msg = parse(_with_attachment(b"Subject: cv\r\n", b'filename="=?utf-8?B?' + inner + b'?="'))
    assert msg.attachments[0].filename == "résumé.pdf"
    assert msg.attachments[0].filename_raw == "résumé.pdf"
