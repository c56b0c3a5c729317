"""Issue 9 defect 1: recipients over MAILBUS_MAX_RECIPIENTS are deferred, not errors.

A sender with more recipients than the limit gets `452 4.5.3` for the extra ones and sends them
in another transaction (RFC 5321 §4.5.3.1.10). Counted as errors, they slowed the session and
then closed it with 421 before DATA, so the accepted ones were deferred too, on every retry.
Like Postfix's smtpd_recipient_overshoot_limit, only overshoot past a generous per-session
allowance counts as errors.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable

import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from mailbus.settings import Settings
from tests.listener.conftest import HOST, Client, Running

TOO_MANY = "452 4.5.3 Error: too many recipients"
DEFAULTS = Settings()
MSG = b"Subject: many\r\n\r\nhello\r\n"


def test_250_recipients_get_100_accepted_150_deferred_and_the_message_delivered(
    make_listener: Callable[..., Running], real_redis: redis.Redis
) -> None:
    """With the shipped limits (100 recipients, errors 10/20): no slowdown, no 421."""
    server: Running = make_listener(
        max_recipients=DEFAULTS.max_recipients,
        soft_error_limit=DEFAULTS.soft_error_limit,
        hard_error_limit=DEFAULTS.hard_error_limit,
    )
    rcpts = [f"user{n}@example.com" for n in range(250)]
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as smtp:
        smtp.ehlo("client.test")
        assert smtp.mail("a@sender.test")[0] == 250
        started = time.monotonic()
        replies = [smtp.rcpt(rcpt) for rcpt in rcpts]
        assert time.monotonic() - started < 5  # no error sleep (1 s per reply) kicked in
        texts = [f"{code} {text.decode()}" for code, text in replies]
        assert texts == ["250 2.1.5 Ok"] * 100 + [TOO_MANY] * 150
        code, reply = smtp.data(MSG)
        assert code == 250, reply
        message_id = reply.decode().rsplit(" ", 1)[1]
        job = Job.fetch(message_id, connection=real_redis, serializer=JSONSerializer)
        assert job.kwargs["envelope"]["rcpt_tos"] == rcpts[:100]
        # the same connection serves the next transaction, for the deferred recipients
        assert smtp.mail("a@sender.test")[0] == 250
        assert [smtp.rcpt(rcpt)[0] for rcpt in rcpts[100:201]] == [250] * 100 + [452]
        assert smtp.data(MSG)[0] == 250
        assert smtp.noop() == (250, b"2.0.0 Ok")
    assert server.counters["too_many_recipients"] == 151
    assert "errors" not in server.counters  # never closed for too many errors


def test_overshoot_past_the_session_allowance_counts_as_errors(
    make_listener: Callable[..., Running],
) -> None:
    """Postfix: the allowance is per session (RSET and new transactions keep the count); each
    recipient past it is an error, so a client that ignores 452 is still cut off."""
    server: Running = make_listener(
        max_recipients=1, recipient_overshoot_limit=3, soft_error_limit=10, hard_error_limit=2
    )
    client = Client(server.port)
    client.ehlo()
    assert client.cmd("MAIL FROM:<a@b.test>") == "250 2.1.0 Ok"
    assert client.cmd("RCPT TO:<1@example.com>") == "250 2.1.5 Ok"
    assert [client.cmd("RCPT TO:<2@example.com>") for _ in range(2)] == [TOO_MANY] * 2
    assert client.cmd("RSET") == "250 2.0.0 Ok"
    assert client.cmd("MAIL FROM:<a@b.test>") == "250 2.1.0 Ok"
    assert client.cmd("RCPT TO:<1@example.com>") == "250 2.1.5 Ok"
    assert client.cmd("RCPT TO:<2@example.com>") == TOO_MANY  # the third: still free
    assert [client.cmd("RCPT TO:<2@example.com>") for _ in range(2)] == [TOO_MANY] * 2
    assert client.cmd("NOOP") == f"421 4.7.0 {HOST} Error: too many errors"
    assert client.is_closed()
