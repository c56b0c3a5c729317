"""Issue 3 item 1: the DATA phase — framing, dot-unstuffing, smuggling, long lines, size.

Case ids (A01, B14, …) in the docstrings point into docs/threat-model.md.
"""

from __future__ import annotations

import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from listener.data import DataReader
from mailbus.envelope import Envelope
from mailbus.trace import delivery_digest, split_trace
from tests.listener.conftest import Client, Running, logged_id, stored, wait_for

# docs/threat-model.md A31: SMTP smuggling end-of-data variants (smtpsmug, SMTP-Smuggling-Tools)
SMUGGLING = [
    b"\n.\n", b"\r.\r", b"\r.\n", b"\n.\r", b"\n.\r\n", b"\r\n.\n",
    b"\r.\r\n", b"\r\n.\r", b"\r\n\x00.\r\n", b"\r\n.\x00\r\n", b"\r\n.\r\r\n", b"\r\r\n.\r\r\n",
]  # fmt: skip
SMUGGLED = (
    b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
    b"Subject: smuggled\r\n\r\nevil\r\n.\r\n"
)


def feed_all(raw: bytes, split: int) -> tuple[DataReader, int]:
    reader = DataReader(b"", 10_000)
    used = -1
    for start in range(0, len(raw), split):
        used = reader.feed(raw[start : start + split])
        if used >= 0:
            return reader, start + used
    return reader, -1


@pytest.mark.parametrize("split", [1, 2, 3, 4, 5, 7, 64])
def test_reader_unstuffs_and_finds_the_end_across_any_read_boundary(split: int) -> None:
    raw = b"..hidden\r\n..\r\n. space\r\nline\r\n.\r\nNEXT"
    reader, used = feed_all(raw, split)
    assert bytes(reader.buffer) == b".hidden\r\n.\r\n space\r\nline\r\n"
    assert raw[used:] == b"NEXT"


@pytest.mark.parametrize("split", [1, 2, 3, 100])
def test_reader_empty_message_and_leading_dot(split: int) -> None:
    assert bytes(feed_all(b".\r\n", split)[0].buffer) == b""
    assert bytes(feed_all(b".x\r\n.\r\n", split)[0].buffer) == b"x\r\n"


def test_reader_digest_matches_mailbus_trace() -> None:
    reader, _ = feed_all(b"Subject: x\r\n\r\n..body\r\n.\r\n", 3)
    envelope = Envelope(mail_from="a@b.test", rcpt_tos=("z@example.com", "a@example.com"))
    assert reader.digest(envelope) == delivery_digest(bytes(reader.buffer), envelope)


def test_dot_stuffing_is_removed(listener: Running, real_redis: redis.Redis) -> None:
    """A32."""
    client = Client(listener.port)
    client.ehlo()
    reply = client.message(b"..hidden\r\n..\r\n. leading space\r\n.\r\n")
    raw = real_redis.get("mailbus:store:raw/" + reply.rsplit(" ", 1)[1])
    assert isinstance(raw, bytes)
    assert split_trace(raw)[1] == b".hidden\r\n.\r\n leading space\r\n"


@pytest.mark.parametrize("seq", SMUGGLING, ids=repr)
def test_smuggling_variants_never_split_a_message(
    listener: Running, real_redis: redis.Redis, seq: bytes
) -> None:
    """A31: exactly one message, ended only by the final <CRLF>.<CRLF>."""
    client = Client(listener.port)
    client.ehlo()
    reply = client.message(b"Subject: x\r\n\r\nbody" + seq + SMUGGLED)
    assert reply.startswith("250 2.0.0 Ok: queued as ")
    assert client.cmd("NOOP") == "250 2.0.0 Ok"  # the smuggled commands were never run
    raw = real_redis.get("mailbus:store:raw/" + reply.rsplit(" ", 1)[1])
    assert isinstance(raw, bytes) and b"MAIL FROM:<evil@example.com>" in raw
    assert stored(real_redis) == {"raw": 1, "jobs": 1, "status": 1}


def test_long_lines_are_accepted_up_to_the_size_limit(
    listener: Running, real_redis: redis.Redis
) -> None:
    """A29: a 3 MB line without a break (aiosmtpd: permanent 500, mail lost)."""
    client = Client(listener.port)
    client.ehlo()
    body = b"Subject: long\r\n\r\n" + b"A" * 3_000_000 + b"\r\n"
    reply = client.message(body + b".\r\n")
    assert reply.startswith("250 2.0.0")
    raw = real_redis.get("mailbus:store:raw/" + reply.rsplit(" ", 1)[1])
    assert isinstance(raw, bytes) and split_trace(raw)[1] == body


def test_oversize_message_is_read_to_the_end_then_refused(
    make_listener,
    real_redis: redis.Redis,  # type: ignore[no-untyped-def]
) -> None:
    """A34: keep reading, answer 552 5.3.4 after the final dot, store nothing, carry on."""
    server = make_listener(max_message_size=100_000)
    client = Client(server.port)
    client.ehlo()
    reply = client.message(
        b"Subject: big\r\n\r\n" + b"x" * 998 + b"\r\n" * 1 + (b"y" * 998 + b"\r\n") * 300 + b".\r\n"
    )
    assert reply == "552 5.3.4 Message size exceeds fixed limit"
    assert client.cmd("NOOP") == "250 2.0.0 Ok"
    assert client.message(b"small\r\n.\r\n").startswith("250 2.0.0")
    assert stored(real_redis)["raw"] == 1
    assert server.counters["too_big"] == 1


def test_bare_lf_cr_nul_are_stored_verbatim_by_default(
    listener: Running, real_redis: redis.Redis
) -> None:
    """A30 accept mode: never normalised in place (the digest and DKIM would change)."""
    client = Client(listener.port)
    client.ehlo()
    reply = client.message(b"line1\nline2\rline3\x00x\r\n.\r\n")
    raw = real_redis.get("mailbus:store:raw/" + reply.rsplit(" ", 1)[1])
    assert isinstance(raw, bytes) and split_trace(raw)[1] == b"line1\nline2\rline3\x00x\r\n"


def test_bare_lf_accepted_is_flagged_in_the_jobs_envelope(
    listener: Running, real_redis: redis.Redis
) -> None:
    """The worker cannot tell a flagged message from the log: the job's envelope carries it."""
    client = Client(listener.port)
    client.ehlo()

    def envelope_of(reply: str) -> dict[str, object]:
        job = Job.fetch(reply.rsplit(" ", 1)[1], connection=real_redis, serializer=JSONSerializer)
        return dict(job.kwargs["envelope"])

    assert envelope_of(client.message(b"a\nb\r\n.\r\n"))["notes"] == ["bare_lf"]
    assert envelope_of(client.message(b"a\rb\x00\r\n.\r\n"))["notes"] == ["bare_cr", "nul"]
    assert envelope_of(client.message(b"clean\r\n.\r\n"))["notes"] == []


def test_bare_lf_reject_mode(make_listener, real_redis: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """A30/A31 reject mode: 550 5.5.2 after the terminator, nothing stored, session goes on."""
    server = make_listener(bare_lf="reject")
    client = Client(server.port)
    client.ehlo()
    assert client.message(b"a\n.\nb\r\n.\r\n") == "550 5.5.2 Error: bare <LF> received"
    assert stored(real_redis)["raw"] == 0
    assert client.message(b"clean\r\n.\r\n").startswith("250 2.0.0")


def test_disconnect_mid_data_stores_nothing(listener: Running, real_redis: redis.Redis) -> None:
    """A33."""
    client = Client(listener.port)
    client.ehlo()
    client.cmd("MAIL FROM:<a@b.test>")
    client.cmd("RCPT TO:<u@example.com>")
    client.cmd("DATA")
    client.send(b"x" * 200_000)
    assert wait_for(lambda: listener.listener.ctx.budget.used > 0)
    client.close()
    assert Client(listener.port).ehlo()[0].startswith("250")
    assert wait_for(lambda: listener.listener.ctx.budget.used == 0)  # memory given back
    assert stored(real_redis) == {"raw": 0, "jobs": 0, "status": 0}


def test_half_close_after_the_dot_still_gets_the_reply(
    listener: Running, real_redis: redis.Redis
) -> None:
    """D08(b): `nc < file` sends everything then FIN; aiosmtpd would cancel the persist."""
    client = Client(listener.port)
    client.ehlo()
    client.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.com>\r\n")
    assert client.reply() == "250 2.1.0 Ok" and client.reply() == "250 2.1.5 Ok"
    client.send(b"DATA\r\n")
    assert client.reply().startswith("354")
    client.send(b"hello\r\n.\r\nQUIT\r\n")
    client.sock.shutdown(1)
    assert client.reply().startswith("250 2.0.0 Ok: queued as")
    assert client.reply() == "221 2.0.0 Bye"
    assert stored(real_redis)["jobs"] == 1


def test_content_pipelined_after_data_is_a_sync_error(
    listener: Running, real_redis: redis.Redis
) -> None:
    """A11: bytes buffered behind DATA before our 354 → 554 5.5.0 and close."""
    client = Client(listener.port)
    client.ehlo()
    client.send(
        b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.com>\r\nDATA\r\nFrom: x\r\n\r\nbody\r\n.\r\n"
    )
    assert client.reply() == "250 2.1.0 Ok"
    assert client.reply() == "250 2.1.5 Ok"
    assert client.reply() == "554 5.5.0 Error: SMTP protocol synchronization"
    assert client.is_closed()
    assert stored(real_redis)["raw"] == 0
    assert Client(listener.port).ehlo()[0].startswith("250")


def test_in_flight_byte_budget(
    make_listener, real_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    """B10: a declared SIZE that does not fit (452 4.3.1 at MAIL), or an upload that overflows
    (452 4.3.1 with the message id after DATA)."""
    server = make_listener(max_inflight_bytes=10_000)
    client = Client(server.port)
    client.ehlo()
    assert client.cmd("MAIL FROM:<a@b.test> SIZE=20000") == "452 4.3.1 Insufficient system storage"
    reply = client.message(b"z" * 30_000 + b"\r\n.\r\n")
    message_id = logged_id(caplog, client, "message.rejected")
    assert reply == f"452 4.3.1 Insufficient system storage (id={message_id})"
    assert stored(real_redis)["raw"] == 0
    assert client.message(b"small\r\n.\r\n").startswith("250 2.0.0")
    assert server.listener.ctx.budget.used == 0
