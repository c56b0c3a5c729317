"""`msg.signature`: the signature block the reply stripping found, for handlers that want it."""

from __future__ import annotations

from mailbus.parse import parse


def _plain(text: str) -> bytes:
    return b"Subject: Re: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text.encode()


def test_dash_dash_signature_is_split_off() -> None:
    msg = parse(_plain("Thanks, done.\n\n-- \nBob Jones\nACME Corp\n"))
    assert msg.stripped_text == "Thanks, done."
    assert msg.signature == "--\nBob Jones\nACME Corp"


def test_sent_from_line_is_the_signature() -> None:
    msg = parse(_plain("On my way.\n\nSent from my iPhone\n\nOn Mon, Jan 8, 2024 at 10:15 AM A "
                       "<a@example.com> wrote:\n> where are you?\n"))  # fmt: skip
    assert (msg.stripped_text, msg.signature) == ("On my way.", "Sent from my iPhone")


def test_no_signature_is_none_and_plain_text_is_kept_whole() -> None:
    msg = parse(_plain("  indented\nsecond line\n"))
    assert msg.signature is None
    assert msg.stripped_text == "indented\nsecond line"


def test_a_long_text_without_reply_markers_is_kept_whole() -> None:
    text = "word " * 10_000 + "\nend of a long report"
    assert parse(_plain(text)).stripped_text == text.strip()


def test_interleaved_answers_keep_their_indentation_without_the_signature() -> None:
    text = "> Is the code right?\n\n    def f(): pass\n\nLooks fine to me.\n\n-- \nBob\n"
    msg = parse(_plain(text))
    assert msg.stripped_text == "> Is the code right?\n\n    def f(): pass\n\nLooks fine to me."
    assert msg.signature == "--\nBob"
