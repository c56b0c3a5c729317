"""Issue 2 item 4: greeting, EHLO, relay refusal, enhanced codes, 250 only after persist.

Case ids (A01, B14, …) in the docstrings point into docs/threat-model.md.
"""

from __future__ import annotations

import json

import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from mailbus.trace import delivery_digest, split_trace
from tests.listener.conftest import HOST, Client, Running, stored

MSG = b"Subject: hi\r\n\r\nhello\r\n.\r\n"


def test_greeting_and_ehlo_advertise_exactly_our_extensions(listener: Running) -> None:
    client = Client(listener.port, greet=False)
    assert client.reply() == f"220 {HOST} ESMTP mailbus"
    assert client.ehlo() == [
        f"250-{HOST}",
        "250-SIZE 26214400",
        "250-8BITMIME",
        "250-PIPELINING",
        "250-SMTPUTF8",
        "250 ENHANCEDSTATUSCODES",
    ]


def test_accepted_message_is_stored_queued_and_traced(
    listener: Running, real_redis: redis.Redis
) -> None:
    client = Client(listener.port)
    client.ehlo()
    reply = client.message(MSG)
    assert reply.startswith("250 2.0.0 Ok: queued as ")
    message_id = reply.rsplit(" ", 1)[1]
    raw = real_redis.get(f"mailbus:store:raw/{message_id}")
    assert isinstance(raw, bytes)
    envelope, received = split_trace(raw)
    assert received == b"Subject: hi\r\n\r\nhello\r\n"
    assert envelope.mail_from == "a@sender.test"
    assert envelope.rcpt_tos == ("u@example.com",)
    assert b"by mx.test (mailbus) with ESMTP id " + message_id.encode() in raw
    job = Job.fetch(message_id, connection=real_redis, serializer=JSONSerializer)
    assert job.kwargs["raw_key"] == f"raw/{message_id}"
    assert job.kwargs["envelope"]["peer"].startswith("127.0.0.1:")
    sent = type(envelope)(mail_from="a@sender.test", rcpt_tos=("u@example.com",))
    assert job.kwargs["digest"] == delivery_digest(received, sent)
    timeline = real_redis.lrange(f"mailbus:status:{message_id}", 0, -1)
    assert [json.loads(e)["event"] for e in timeline] == ["received", "stored", "queued"]
    assert stored(real_redis) == {"raw": 1, "jobs": 1, "status": 1}
    assert client.cmd("QUIT") == "221 2.0.0 Bye"


def test_several_messages_per_connection(listener: Running, real_redis: redis.Redis) -> None:
    client = Client(listener.port)
    client.ehlo()
    for _ in range(3):
        assert client.message(MSG).startswith("250 2.0.0 Ok: queued as ")
    assert stored(real_redis)["jobs"] == 3


def test_relay_is_denied_and_nothing_stored(listener: Running, real_redis: redis.Redis) -> None:
    """E01: only our domains; the refusal names the address."""
    client = Client(listener.port)
    client.ehlo()
    assert client.cmd("MAIL FROM:<a@example.net>") == "250 2.1.0 Ok"
    assert client.cmd("RCPT TO:<victim@gmail.com>") == (
        "550 5.7.1 <victim@gmail.com>: Relay access denied"
    )
    assert client.cmd("RCPT TO:<x@example.com.evil.net>").startswith("550 5.7.1 ")
    assert client.cmd("DATA") == "554 5.5.1 Error: no valid recipients"
    assert stored(real_redis) == {"raw": 0, "jobs": 0, "status": 0}
    assert Client(listener.port).ehlo()[-1] == "250 ENHANCEDSTATUSCODES"


def test_served_domains_wildcards_case_and_postmaster(listener: Running) -> None:
    """E02 normalisation, E04 postmaster; `*.example.org` covers subdomains, not the apex."""
    client = Client(listener.port)
    client.ehlo()
    assert client.cmd("MAIL FROM:<>") == "250 2.1.0 Ok"
    assert client.cmd("RCPT TO:<USER@EXAMPLE.COM>") == "250 2.1.5 Ok"
    assert client.cmd("RCPT TO:<a@mail.example.org>") == "250 2.1.5 Ok"
    assert client.cmd("RCPT TO:<a@deep.mail.example.org>") == "250 2.1.5 Ok"
    assert client.cmd("RCPT TO:<a@example.org>").startswith("550 5.7.1")
    assert client.cmd("RCPT TO:<Postmaster>") == "250 2.1.5 Ok"
    assert client.cmd("RCPT TO:<postmaster@example.com>") == "250 2.1.5 Ok"


def test_sequence_errors_carry_enhanced_codes(listener: Running) -> None:
    """A12, A14, A15, A16, A21, A23, A28: aiosmtpd's own replies get codes and our wording."""
    client = Client(listener.port)
    assert client.cmd("MAIL FROM:<a@b.test>") == "503 5.5.1 Error: send HELO/EHLO first"
    assert client.cmd("EHLO") == "501 5.5.4 Syntax: EHLO hostname"
    client.ehlo()
    assert client.cmd("RCPT TO:<u@example.com>").startswith("503 5.5.1 Error: need MAIL")
    assert client.cmd("DATA") == "503 5.5.1 Error: need RCPT command"
    assert client.cmd("MAIL FROM:<a@b.test>") == "250 2.1.0 Ok"
    assert client.cmd("MAIL FROM:<a@b.test>") == "503 5.5.1 Error: nested MAIL command"
    assert client.cmd("FOO") == "500 5.5.2 Error: command not recognized"
    assert client.cmd("AUTH PLAIN AGEAYg==") == "500 5.5.2 Error: command not recognized"
    assert client.cmd("VRFY root").startswith("252 2.0.0 ")
    assert client.cmd("EXPN staff").startswith("502 5.5.1 ")
    assert client.cmd("NOOP") == "250 2.0.0 Ok"
    assert client.cmd("RSET") == "250 2.0.0 Ok"
    assert client.cmd("RSET x").startswith("501 5.5.4 ")
    assert client.cmd("HELO client.test") == f"250 {HOST}"


def test_too_many_recipients(make_listener, real_redis: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    """B08: RFC 5321 §4.5.3.1.10 — 452, and the accepted ones still get the message."""
    server = make_listener(max_recipients=2)
    client = Client(server.port)
    client.ehlo()
    client.cmd("MAIL FROM:<a@b.test>")
    assert client.cmd("RCPT TO:<1@example.com>") == "250 2.1.5 Ok"
    assert client.cmd("RCPT TO:<2@example.com>") == "250 2.1.5 Ok"
    assert client.cmd("RCPT TO:<3@example.com>") == "452 4.5.3 Error: too many recipients"
    assert client.cmd("DATA").startswith("354")
    client.send(MSG)
    assert client.reply().startswith("250 2.0.0")
    assert server.counters["too_many_recipients"] == 1


def test_declared_size_and_parameters(listener: Running) -> None:
    """A18, A19: SIZE over the limit, bad SIZE, unknown parameters."""
    client = Client(listener.port)
    client.ehlo()
    assert client.cmd("MAIL FROM:<a@b.test> SIZE=999999999") == (
        "552 5.3.4 Message size exceeds fixed limit"
    )
    assert client.cmd("MAIL FROM:<a@b.test> SIZE=abc").startswith("501 5.5.4 ")
    assert client.cmd("MAIL FROM:<a@b.test> BODY=BINARYMIME").startswith("501 5.5.4 ")
    assert client.cmd("MAIL FROM:<a@b.test> SIZE=1000 BODY=8BITMIME") == "250 2.1.0 Ok"
    assert client.cmd("RCPT TO:<u@example.com> NOTIFY=NEVER").startswith("555 5.5.4 ")
