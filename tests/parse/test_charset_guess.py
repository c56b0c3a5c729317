"""8-bit text with no usable charset (issue 9, defect 6): short Western texts must not come out as
Chinese; the charsets the message declares elsewhere come first, then Windows-1252, unless the
bytes clearly are another legacy charset (real GBK, Shift_JIS and KOI8-R text)."""

from __future__ import annotations

import pytest

from mailbus.parse import parse

WESTERN = [
    "Café crème à 5€",
    "Grüße aus München",
    "¿Qué tal, señor?",
    "Ça va très bien",
    "Schöne Grüße",
    "Straße",
    "mañana",
    "Noël",
    "À bientôt",
    "Olá, João",
]
LEGACY = {
    "gbk": "我们明天下午三点在会议室开会，请准时参加。如果有问题，请提前告诉我。",
    "shift_jis": "明日の午後三時に会議室で打ち合わせをします。遅れないようにしてください。",
    "koi8_r": "Добрый день! Завтра в три часа состоится собрание в конференц-зале.",
    "euc_jp": "次のあて先へのメッセージはエラーのため送信できませんでした。",
}


def body(content_type: bytes, text: bytes) -> bytes:
    return b"Subject: x\r\n" + content_type + b"\r\n" + text + b"\r\n"


@pytest.mark.parametrize("text", WESTERN)
@pytest.mark.parametrize(
    "content_type", [b"Content-Type: text/plain\r\n", b""], ids=["plain", "none"]
)
def test_short_western_body_without_charset_is_windows_1252(text: str, content_type: bytes) -> None:
    msg = parse(body(content_type, text.encode("cp1252")))
    assert msg.text == text + "\n"
    assert [d.kind for d in msg.defects] == ["missing_charset"]


@pytest.mark.parametrize("text", WESTERN)
def test_short_western_8bit_header_is_windows_1252(text: str) -> None:
    msg = parse(b"Subject: " + text.encode("cp1252") + b"\r\nFrom: a@example.org\r\n\r\nb\r\n")
    assert msg.subject == text
    assert msg.header("Subject") == text


@pytest.mark.parametrize("codec", LEGACY)
def test_real_legacy_text_without_charset_is_recognised(codec: str) -> None:
    text = LEGACY[codec]
    msg = parse(body(b"Content-Type: text/plain\r\n", text.encode(codec)))
    assert msg.text == text + "\n"


@pytest.mark.parametrize("codec", LEGACY)
def test_real_legacy_8bit_header_is_recognised(codec: str) -> None:
    text = LEGACY[codec]
    msg = parse(b"Subject: " + text.encode(codec) + b"\r\nFrom: a@example.org\r\n\r\nb\r\n")
    assert msg.subject == text


@pytest.mark.parametrize("codec", LEGACY)
def test_legacy_text_under_a_wrong_declared_charset_is_recognised(codec: str) -> None:
    text = LEGACY[codec]
    msg = parse(body(b"Content-Type: text/plain; charset=utf-8\r\n", text.encode(codec)))
    assert msg.text == text + "\n"
    assert "charset_mismatch" in [d.kind for d in msg.defects]


def test_a_charset_declared_elsewhere_in_the_message_comes_first() -> None:
    short = "Привет, мир"
    raw = (
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\n" + short.encode("koi8_r") + b"\r\n"
        b"--b\r\nContent-Type: text/html; charset=koi8-r\r\n\r\n<p>"
        + short.encode("koi8_r")
        + b"</p>\r\n--b--\r\n"
    )
    msg = parse(raw)
    assert (msg.text, msg.html) == (short, f"<p>{short}</p>")


def test_an_encoded_word_charset_is_a_declaration_too() -> None:
    raw = (
        b"Subject: =?iso-8859-2?Q?Za=BF=F3=B3=E6?= \xbf\xf3\xb3\xe6\r\n"
        b"Content-Type: text/plain\r\n\r\nZa\xbf\xf3\xb3\xe6 g\xea\xb6l\xb1 ja\xbc\xf1\r\n"
    )
    msg = parse(raw)
    assert msg.subject == "Zażółć żółć"
    assert msg.text == "Zażółć gęślą jaźń\n"


@pytest.mark.parametrize("text", [*WESTERN, *LEGACY.values()])
def test_never_a_replacement_character_when_a_legacy_charset_decodes_cleanly(text: str) -> None:
    codec = next((c for c, t in LEGACY.items() if t == text), "cp1252")
    msg = parse(body(b"", text.encode(codec)))
    assert msg.text is not None and "\ufffd" not in msg.text


def test_a_raw_8bit_filename_is_read_in_the_charset_the_message_declares() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=iso-8859-2\r\n\r\nw za\xb3\xb1czniku\r\n"
        b"--b\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="\xbf\xf3\xb3\xe6.txt"\r\n\r\ndata\r\n--b--\r\n'
    )
    msg = parse(raw)
    assert msg.text == "w załączniku"
    assert [a.filename_raw for a in msg.attachments] == ["żółć.txt"]
