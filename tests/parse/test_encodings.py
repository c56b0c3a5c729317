"""Charsets, line endings, boundaries and filenames the stdlib gets wrong."""

from __future__ import annotations

import pytest

from mailbus.parse import parse


def _with_attachment(
    disposition: bytes, content_type: bytes = b"application/octet-stream"
) -> bytes:
    return (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--b\r\nContent-Type: "
        + content_type
        + b"\r\n"
        + disposition
        + b"\r\n\r\ndata\r\n--b--\r\n"
    )


def test_unknown_charset_decodes_with_fallback_and_defect() -> None:
    msg = parse(b"Content-Type: text/plain; charset=x-bogus-42\r\n\r\ncaf\xc3\xa9\r\n")
    assert msg.text == "café\n"
    assert [d.kind for d in msg.defects] == ["unknown_charset"]


def test_charset_aliases_and_mismatch() -> None:
    korean = "안녕하세요".encode("cp949")
    msg = parse(b"Content-Type: text/plain; charset=ks_c_5601-1987\r\n\r\n" + korean)
    assert msg.text == "안녕하세요" and msg.defects == []
    latin = parse(b'Content-Type: text/plain; charset="uft-8"\r\n\r\nna\xc3\xafve')
    assert latin.text == "naïve"
    wrong = parse(b"Content-Type: text/plain; charset=utf-8\r\n\r\ncaf\xe9 cr\xe8me br\xfbl\xe9e")
    assert wrong.text is not None and "caf" in wrong.text
    assert [d.kind for d in wrong.defects] == ["charset_mismatch"]


def test_unknown_charset_in_encoded_word_header() -> None:
    msg = parse(b"Subject: =?x-unknown?Q?hello_w=C3=B6rld?=\r\n\r\nb\r\n")
    assert msg.subject == "hello wörld"


def test_8bit_headers_fall_back_to_a_guess_with_defect() -> None:
    msg = parse(b"Subject: caf\xe9 cr\xe8me\r\n\r\nb\r\n")
    assert msg.subject.startswith("caf") and "\udce9" not in msg.subject
    assert any(d.kind == "8bit_header" for d in msg.defects)
    utf8 = parse("Subject: ünïcødé\r\n\r\nb\r\n".encode())
    assert utf8.subject == "ünïcødé"


def test_utf8_bom_and_leading_blank_lines_are_stripped() -> None:
    msg = parse(b"\xef\xbb\xbf\r\n\r\nSubject: after bom\r\nFrom: a@example.com\r\n\r\nbody\r\n")
    assert msg.subject == "after bom" and msg.from_ is not None
    assert any(d.kind == "byte_order_mark" for d in msg.defects)


def test_cr_only_line_endings_with_quoted_printable() -> None:
    raw = (
        b"Subject: mac\rContent-Type: text/plain; charset=iso-8859-1\r"
        b"Content-Transfer-Encoding: quoted-printable\r\rsoft=\rbreak caf=E9\rline two\r"
    )
    msg = parse(raw)
    assert msg.subject == "mac"
    assert msg.text == "softbreak café\nline two\n"
    assert any(d.kind == "bare_cr_line_endings" for d in msg.defects)


def test_bare_lf_message() -> None:
    msg = parse(b"Subject: unix\nContent-Type: text/plain\n\nline\n")
    assert (msg.subject, msg.text) == ("unix", "line\n")


def test_unquoted_boundary_with_equals_signs() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=----=_NextPart_000_0012_01D9=\r\n\r\n"
        b"------=_NextPart_000_0012_01D9=\r\nContent-Type: text/plain\r\n\r\nfirst\r\n"
        b"------=_NextPart_000_0012_01D9=\r\nContent-Type: image/png; name=a.png\r\n\r\nx\r\n"
        b"------=_NextPart_000_0012_01D9=--\r\n"
    )
    msg = parse(raw)
    assert msg.text == "first"
    assert [a.filename for a in msg.attachments] == ["a.png"]


def test_unquoted_encoded_word_filename() -> None:
    msg = parse(
        _with_attachment(b"Content-Disposition: attachment; filename==?UTF-8?B?w6l0w6kucGRm?=")
    )
    assert [(a.filename, a.filename_raw) for a in msg.attachments] == [("été.pdf", "été.pdf")]


def test_quoted_encoded_word_name_in_content_type_only() -> None:
    msg = parse(_with_attachment(b"", b'application/pdf; name="=?iso-8859-1?Q?r=E9sum=E9.pdf?="'))
    assert msg.attachments[0].filename == "résumé.pdf"


def test_rfc2231_continuations_and_charset() -> None:
    disp = (
        b"Content-Disposition: attachment;\r\n filename*0*=UTF-8''Jahres%C3%BC;\r\n"
        b" filename*1*=bersicht%202024;\r\n filename*2=.xlsx"
    )
    msg = parse(_with_attachment(disp))
    assert msg.attachments[0].filename == "Jahresübersicht 2024.xlsx"


def test_raw_8bit_filename_is_decoded() -> None:
    msg = parse(_with_attachment('Content-Disposition: attachment; filename="прайс.doc"'.encode()))
    assert msg.attachments[0].filename == "прайс.doc"
    latin = parse(_with_attachment(b'Content-Disposition: attachment; filename="caf\xe9.txt"'))
    assert latin.attachments[0].filename.endswith(".txt")
    assert "\ufffd" not in latin.attachments[0].filename


@pytest.mark.parametrize(
    ("declared", "safe"),
    [
        (b'="../../etc/passwd"', "passwd"),
        (b'="/etc/passwd"', "passwd"),
        (b'="C:\\\\Windows\\\\x.dll"', "x.dll"),
        (b"*=UTF-8''%2e%2e%2f%2e%2e%2fetc%2fcron.d%2fx", "x"),
        (b'="=?utf-8?B?Li4vLi4vZXZpbA==?="', "evil"),
        (b'="invoice\xe2\x80\xaefdp.exe"', "invoicefdp.exe"),
        (b'="a\\x00.exe"', "ax00.exe"),
        (b'="CON.txt"', "_CON.txt"),
        (b'="x.pdf      .exe"', "x.pdf      .exe"),
        (b'=".."', "attachment-1.bin"),
        (b'=""', "attachment-1.bin"),
        (b'="C:"', "attachment-1.bin"),
    ],
)
def test_filename_sanitising(declared: bytes, safe: str) -> None:
    msg = parse(_with_attachment(b"Content-Disposition: attachment; filename" + declared))
    [att] = msg.attachments
    assert att.filename == safe
    assert "/" not in att.filename and "\\" not in att.filename and ":" not in att.filename


def test_long_filename_is_capped_keeping_extension() -> None:
    msg = parse(
        _with_attachment(b'Content-Disposition: attachment; filename="' + b"a" * 10_000 + b'.pdf"')
    )
    name = msg.attachments[0].filename
    assert len(name.encode()) <= 255 and name.endswith(".pdf")


def test_bidi_filename_is_flagged() -> None:
    msg = parse(
        _with_attachment('Content-Disposition: attachment; filename="cv\u202efdp.exe"'.encode())
    )
    assert any(d.kind == "suspicious_filename" for d in msg.defects)


def test_duplicate_and_missing_filenames_are_made_unique() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + b"".join(
            b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment"
            + d
            + b"\r\n\r\nx\r\n"
            for d in (b'; filename="report.pdf"', b'; filename="Report.pdf"', b"")
        )
        + b"--b--\r\n"
    )
    msg = parse(raw)
    assert [a.filename for a in msg.attachments] == [
        "report.pdf",
        "Report (1).pdf",
        "attachment-3.pdf",
    ]


def test_declared_type_contradicted_by_bytes_is_a_defect() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    raw = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: application/pdf; name=x.pdf\r\n\r\n" + png + b"\r\n--b--\r\n"
    )
    msg = parse(raw)
    assert msg.attachments[0].detected_type == "image/png"
    assert any(d.kind == "type_mismatch" for d in msg.defects)
