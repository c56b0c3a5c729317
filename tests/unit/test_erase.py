"""Which addresses a stored message mentions, as `mailbus erase --address` matches them."""

from __future__ import annotations

import fakeredis

from mailbus.erase import INDEX, forget_indexed, mentioned

RAW = (
    b"Return-Path: <bounce@lists.example>\r\n"
    b"X-Original-To: team@example.com\r\n"
    b"Received: from mx ([192.0.2.1])\r\n\tby mx.test (mailbus) with ESMTP id 01x\r\n"
    b"\tfor <relay@example.com>; Wed, 2 Dec 2026 06:00:00 +0000\r\n"
    b"From: =?utf-8?q?J=C3=BCrgen?= <Juergen@Example.ORG>\r\n"
    b"To: undisclosed-recipients:;\r\n"
    b"Cc: Ann <ann@xn--bcher-kva.example>, bob@example.net\r\n"
    b"Reply-To: replies@example.org\r\n"
    b"Subject: about carol@example.org\r\n"
    b"\r\n"
    b"From: body@example.org is not a header\r\n"
)


def test_every_envelope_and_header_address_counts_in_one_spelling() -> None:
    found = mentioned(RAW)
    for address in ("bounce@lists.example", "team@example.com", "relay@example.com",
                    "juergen@example.org", "bob@example.net", "replies@example.org",
                    "ann@xn--bcher-kva.example", "carol@example.org"):  # fmt: skip
        assert address in found
    assert "body@example.org" not in found  # the body is not searched


def test_forget_indexed_drops_the_message_from_the_index() -> None:
    connection = fakeredis.FakeRedis()
    connection.zadd(INDEX, {"01a": 1.0, "01b": 2.0})
    forget_indexed(connection, "01a")
    assert connection.zrange(INDEX, 0, -1) == [b"01b"]
