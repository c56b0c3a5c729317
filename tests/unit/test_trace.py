from __future__ import annotations

from mailbus.envelope import Envelope
from mailbus.trace import delivery_digest, split_trace, trace_headers

RECEIVED = b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"


def test_trace_block_round_trips_the_envelope() -> None:
    envelope = Envelope(
        mail_from="a@example.org",
        rcpt_tos=("x@example.com", "y@example.com"),
        helo="mx.example.org",
        peer="192.0.2.1:4444",
        received_at=1_700_000_000,
    )
    stored = trace_headers(envelope, "01abc", "mx.example.com") + RECEIVED
    assert stored.startswith(b"Return-Path: <a@example.org>\r\nX-Original-To: x@example.com\r\n")
    assert b"by mx.example.com (mailbus) with ESMTP id 01abc" in stored
    recovered, received = split_trace(stored)
    assert received == RECEIVED
    assert recovered.mail_from == "a@example.org"
    assert recovered.rcpt_tos == ("x@example.com", "y@example.com")


def test_null_sender_and_single_recipient() -> None:
    envelope = Envelope(mail_from="", rcpt_tos=("x@example.com",), received_at=1_700_000_000)
    stored = trace_headers(envelope, "id1", "mx") + RECEIVED
    assert b"for <x@example.com>;" in stored
    recovered, received = split_trace(stored)
    assert (recovered.mail_from, recovered.rcpt_tos, received) == ("", ("x@example.com",), RECEIVED)


def test_digest_depends_on_bytes_and_envelope_not_on_recipient_order() -> None:
    one = Envelope(mail_from="a@x", rcpt_tos=("b@y", "c@y"))
    same = Envelope(mail_from="a@x", rcpt_tos=("c@y", "b@y"), peer="other:1")
    other = Envelope(mail_from="a@x", rcpt_tos=("b@y",))
    assert delivery_digest(RECEIVED, one) == delivery_digest(RECEIVED, same)
    assert delivery_digest(RECEIVED, one) != delivery_digest(RECEIVED, other)
    assert delivery_digest(RECEIVED, one) != delivery_digest(RECEIVED + b"x", one)
