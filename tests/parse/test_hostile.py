"""Bombs and malformed structure: every cap triggers, is named in limits_hit, and parse returns.

Time bounds here are generous (seconds): they catch hangs and quadratic blow-ups, not speed.
"""

from __future__ import annotations

import time

import pytest

from mailbus.message import InboundMessage
from mailbus.parse import ParseLimits, parse
from mailbus.parse import build as build_module


def _timed(raw: bytes, limits: ParseLimits | None = None) -> tuple[InboundMessage, float]:
    started = time.monotonic()
    msg = parse(raw, limits=limits)
    return msg, time.monotonic() - started


def test_2000_deep_multipart_nesting_hits_depth_cap() -> None:
    depth = 2000
    head = b"".join(
        b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i, i + 1)
        for i in range(depth)
    )
    raw = (
        b'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n' + head + b"--b2000\r\n\r\nleaf\r\n"
    )
    msg, took = _timed(raw)
    assert "depth" in msg.limits_hit
    assert any(d.kind == "depth_limit" for d in msg.defects)
    assert took < 10


def test_3000_message_rfc822_in_a_row_share_the_depth_budget() -> None:
    raw = b"Content-Type: message/rfc822\r\n\r\n" * 3000 + b"Subject: leaf\r\n\r\nx\r\n"
    msg, took = _timed(raw)
    assert "depth" in msg.limits_hit
    assert took < 10


def test_50000_sibling_parts_hit_part_cap_but_keep_the_first_ones() -> None:
    parts = b"".join(
        b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(50_000)
    )
    raw = (
        b'Subject: fan-out\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + parts
        + b"--b--\r\n"
    )
    msg, took = _timed(raw)
    assert msg.limits_hit == ["parts"]
    assert msg.subject == "fan-out"
    assert msg.text == "part 0"
    assert len(msg.other_bodies) >= 900
    assert took < 20


def test_custom_part_cap_is_honoured() -> None:
    parts = b"".join(b"--b\r\n\r\np%d\r\n" % i for i in range(20))
    raw = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + b"--b--\r\n"
    msg = parse(raw, limits=ParseLimits(max_parts=5))
    assert msg.limits_hit == ["parts"]
    assert msg.text == "p0" and len(msg.other_bodies) <= 4


def test_content_type_with_20000_parameters_is_fast() -> None:
    params = b"".join(b"; p%d=v" % i for i in range(20_000))
    raw = b"Content-Type: text/plain" + params + b"; charset=utf-8\r\n\r\nhello\r\n"
    msg, took = _timed(raw)
    assert "params" in msg.limits_hit
    assert msg.text == "hello\n"
    assert took < 5


def test_content_type_with_20000_semicolons_is_fast() -> None:
    raw = b"Content-Type: text/plain" + b";" * 20_000 + b"\r\n\r\nhello\r\n"
    msg, took = _timed(raw)
    assert msg.text == "hello\n"
    assert took < 5


def test_20000_encoded_words_and_20000_addresses() -> None:
    subject = b"Subject: " + b" ".join([b"=?utf-8?B?QUJD?="] * 20_000)
    to = b"To: " + b", ".join(b"u%d@example.com" % i for i in range(20_000))
    raw = subject + b"\r\n" + to + b"\r\n\r\nbody\r\n"
    msg, took = _timed(raw, limits=ParseLimits(max_addresses=500))
    assert msg.subject.startswith("ABCABC")
    assert len(msg.to) == 500 and "addresses" in msg.limits_hit
    assert took < 10


def test_deeply_nested_comments_in_address_do_not_recurse() -> None:
    raw = b"From: " + b"(" * 5000 + b"x" + b")" * 5000 + b" a@example.com\r\n\r\nbody\r\n"
    msg, took = _timed(raw)
    assert msg.from_ is not None and msg.from_.email == "a@example.com"
    assert took < 5


def test_header_caps() -> None:
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(300))
    msg = parse(many + b"Subject: late\r\n\r\nbody\r\n", limits=ParseLimits(max_header_count=100))
    assert "header_count" in msg.limits_hit
    assert len(msg.headers) == 100
    huge = b"X-Big: " + b"a" * 5000 + b"\r\n"
    msg = parse(huge * 10 + b"\r\nbody\r\n", limits=ParseLimits(max_header_bytes=20_000))
    assert "header_bytes" in msg.limits_hit
    assert msg.text == "body\n"


def test_time_budget_stops_the_walk() -> None:
    parts = b"".join(b"--b\r\n\r\np%d\r\n" % i for i in range(200))
    raw = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + b"--b--\r\n"
    msg = parse(raw, limits=ParseLimits(max_seconds=0.0))
    assert "time" in msg.limits_hit


def test_missing_or_unused_or_unclosed_boundaries_lose_nothing() -> None:
    no_param = parse(b"Content-Type: multipart/mixed\r\n\r\njust text\r\n")
    assert no_param.text == "just text\n"
    assert any(d.kind == "no_boundary" for d in no_param.defects)
    unused = parse(b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\nonly text\r\n')
    assert unused.text == "only text\n"
    assert any(d.kind == "start_boundary_not_found" for d in unused.defects)
    unclosed = parse(b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\n--zz\r\n\r\nopen\r\n')
    assert unclosed.text == "open\n"
    assert any(d.kind == "close_boundary_not_found" for d in unclosed.defects)


def test_boundary_prefix_line_is_content_not_a_delimiter() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="B1"\r\n\r\n'
        b"--B1\r\n\r\na\r\n--B10\r\nb\r\n--B1--\r\n"
    )
    msg = parse(raw)
    assert msg.text == "a\n--B10\nb"
    assert any(d.kind == "ambiguous_boundary" for d in msg.defects)


def test_garbage_first_line_mbox_line_and_no_separator() -> None:
    msg = parse(b"garbage line without colon\r\nSubject: x\r\n\r\nb\r\n")
    assert msg.subject == "x" and msg.text == "b\n"
    assert any(d.kind == "garbage_before_headers" for d in msg.defects)
    mbox = parse(b"From foo@bar Mon Jan  1 00:00:00 2024\nSubject: y\n\nb\n")
    assert mbox.subject == "y"
    assert parse(b"Subject: only headers").subject == "only headers"


def test_malformed_headers_from_the_stdlib_fuzz_do_not_raise() -> None:
    samples = [
        b"Message-ID: <[]]\"-<?qc?=*fX-'\\@cXb,-=Y= 8ft2\x00Z0\n=]\x00'-,-\xa9\r\n\r\nbody\r\n",
        b"From: ,.?<?u@=%?Y\\b@]f?\"\\=[<]\xa9?];\t?\xa9)q\xffb,>?t.\t1?'\r\n\r\nbody\r\n",
        b"Content-Type: text/plain; =\r\n\r\nbody\r\n",
        b"Content-Type: text/plain; charset*0*=x'; charset*=''%ZZ\r\n\r\nbody\r\n",
        b"Date: Mon, 99 Foo 99999 99:99:99 +9999\r\n\r\nbody\r\n",
    ]
    for raw in samples:
        msg = parse(raw)
        assert msg.text is not None
        assert not any(d.kind == "parser_error" for d in msg.defects), msg.defects


def test_encoded_newline_never_reaches_a_decoded_header() -> None:
    msg = parse(b"Subject: x=?UTF-8?Q?=0D=0A?=Bcc: injected@example.com\r\n\r\nb\r\n")
    assert "\n" not in msg.subject and "\r" not in msg.subject
    nul = parse(b"Subject: a\x00b\r\n\r\nb\r\n")
    assert "\x00" not in nul.subject and "\x00" not in nul.headers[0].value_raw


def test_duplicate_unique_headers_first_wins() -> None:
    msg = parse(b"Subject: one\r\nSubject: two\r\nFrom: a@x.org\r\nFrom: b@x.org\r\n\r\nb\r\n")
    assert msg.subject == "one" and msg.from_ is not None and msg.from_.email == "a@x.org"
    assert sum(d.kind == "duplicate_unique_header" for d in msg.defects) == 2


def test_invalid_base64_and_unknown_transfer_encoding_keep_bytes() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: application/octet-stream; name=a.bin\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nQUJD!!!$$$RA\r\n"
        b"--b\r\nContent-Type: application/octet-stream; name=b.bin\r\n"
        b"Content-Transfer-Encoding: bogus\r\n\r\nraw bytes\r\n--b--\r\n"
    )
    msg = parse(raw)
    assert [a.read() for a in msg.attachments] == [b"ABCD", b"raw bytes"]
    kinds = {d.kind for d in msg.defects}
    assert {"invalid_base64_characters", "unknown_transfer_encoding"} <= kinds


def test_an_internal_bug_still_returns_a_degraded_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(build_module, "collect", broken)
    msg = parse(b"Subject: still here\r\n\r\nbody\r\n", raw_key="k")
    assert msg.subject == "still here" and msg.raw.key == "k"
    assert [(d.kind, d.detail) for d in msg.defects] == [("parser_error", "RuntimeError: boom")]


def test_non_bytes_input_is_tolerated() -> None:
    assert parse("Subject: str input\r\n\r\nb").subject == "str input"  # type: ignore[arg-type]
    assert parse(bytearray(b"Subject: ba\r\n\r\nb")).subject == "ba"  # type: ignore[arg-type]
    assert parse(None).raw.size == 0  # type: ignore[arg-type]
