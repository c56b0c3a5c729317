"""Postfix's SMTP client delivering to mailbus: the MTA that most real mail comes from.

A message is handed to the private Postfix (tests/interop/postfix.py), which relays it to `mailbus
listen` the way it relays to any MX: STARTTLS, pipelining, BODY=8BITMIME, SMTPUTF8, SIZE, its own
recipient batching and its own retries. The test then waits for the handler's record.
"""

from __future__ import annotations

import pytest

from tests.interop import messages
from tests.interop.conftest import MAX_MESSAGE_SIZE, Stack
from tests.interop.postfix import Postfix

pytestmark = [pytest.mark.e2e, pytest.mark.interop]

SENDER = "ada@sender.test"


def test_an_ascii_message_arrives_over_starttls(stack: Stack, relay: Postfix) -> None:
    title = messages.subject("ascii")
    queue_id = relay.submit(messages.ascii_message(title), SENDER, ["support@example.com"])
    (record,) = stack.wait_for(title)
    assert record["mail_from"] == SENDER
    assert record["rcpt_tos"] == ["support@example.com"]
    assert record["text"] == "Plain seven-bit text.\n"
    assert record["tls"] is True
    relay.wait_for_log(rf"{queue_id}: to=<support@example.com>, relay=127\.0\.0\.1.*status=sent")
    relay.wait_for_log(r"(Trusted|Untrusted|Anonymous) TLS connection established to 127\.0\.0\.1")


def test_an_8bit_message_arrives_with_body_8bitmime(stack: Stack, relay: Postfix) -> None:
    title = messages.subject("8bit")
    relay.submit(
        messages.eight_bit_message(title), SENDER, ["support@example.com"], ("BODY=8BITMIME",)
    )
    (record,) = stack.wait_for(title)
    assert "BODY=8BITMIME" in record["mail_options"]
    assert record["text"] == messages.EIGHT_BIT_TEXT


def test_an_smtputf8_message_keeps_its_unicode_addresses(stack: Stack, relay: Postfix) -> None:
    title = messages.subject("Grüße 📬")
    mail_from, to = "josé@sender.test", "ñandú@example.com"
    raw = messages.utf8_message(title, mail_from, to)
    relay.submit(raw, mail_from, [to], ("SMTPUTF8", "BODY=8BITMIME"))
    (record,) = stack.wait_for(title)
    assert record["smtputf8"] is True
    assert (record["mail_from"], record["rcpt_tos"]) == (mail_from, [to])
    assert record["from"] == mail_from
    assert record["text"] == messages.EIGHT_BIT_TEXT


def test_a_5_mb_attachment_arrives_intact(stack: Stack, relay: Postfix) -> None:
    title = messages.subject("5 MB")
    raw, digest = messages.attachment_message(title, 5 * 2**20)
    relay.submit(raw, SENDER, ["support@example.com"])
    (record,) = stack.wait_for(title, timeout=60)
    (attachment,) = record["attachments"]
    assert (attachment["size"], attachment["sha256"]) == (5 * 2**20, digest)


def test_250_recipients_in_postfix_batches_all_arrive(stack: Stack, relay: Postfix) -> None:
    """Postfix sends at most 50 recipients per delivery (its default); all 250 get the mail."""
    title = messages.subject("250 recipients")
    to = [f"user{n:03}@example.com" for n in range(250)]
    relay.submit(messages.ascii_message(title), SENDER, to)
    records = stack.wait_until(lambda rs: sum(len(r["rcpt_tos"]) for r in rs) >= 250, title)
    delivered = [rcpt for r in records for rcpt in r["rcpt_tos"]]
    assert sorted(delivered) == to
    assert max(len(r["rcpt_tos"]) for r in records) <= 50


def test_250_recipients_in_one_transaction_all_arrive(stack: Stack, relay: Postfix) -> None:
    """The `bulk` transport sends all 250 RCPTs at once: mailbus takes 100 (MAILBUS_MAX_RECIPIENTS)
    and answers 452 4.5.3 to the rest, which Postfix retries in the next transactions."""
    title = messages.subject("250 in one")
    to = [f"user{n:03}@bulk.example.com" for n in range(250)]
    queue_id = relay.submit(messages.ascii_message(title, to="list@bulk.example.com"), SENDER, to)

    def all_arrived(records: list[dict]) -> bool:
        return sum(len(r["rcpt_tos"]) for r in records) >= 250

    try:  # Postfix defers the refused recipients; on a busy machine its retry can take a while,
        # so the test asks for it (postqueue -f) instead of waiting on Postfix's own schedule.
        for _ in range(11):
            try:
                records = stack.wait_until(all_arrived, title, timeout=5)
                break
            except AssertionError:
                relay.flush()
        else:
            records = stack.wait_until(all_arrived, title, timeout=5)
    finally:
        relay.delete(queue_id)
    assert sorted(rcpt for r in records for rcpt in r["rcpt_tos"]) == to


def test_an_oversize_message_is_bounced_by_postfix(stack: Stack, relay: Postfix) -> None:
    """mailbus advertises SIZE; Postfix bounces a bigger message to its sender (here a mailbus
    address, so the bounce itself arrives as a delivery status notification)."""
    title = messages.subject("too big")
    sender, rcpt = f"{title.split()[-1]}@example.com", "support@example.com"
    raw, _ = messages.attachment_message(title, MAX_MESSAGE_SIZE)
    queue_id = relay.submit(raw, sender, [rcpt])
    bounced = rf"{queue_id}: to=<{rcpt}>.*dsn=5\.3\.4, status=bounced \((.*)\)"
    assert f"exceeds size limit {MAX_MESSAGE_SIZE}" in relay.wait_for_log(bounced).group(1)
    (bounce,) = stack.wait_until(lambda rs: len(rs) >= 1, lambda r: sender in r["rcpt_tos"])
    assert bounce["subject"] == "Undelivered Mail Returned to Sender"
    assert bounce["mail_from"] == ""
    assert bounce["bounce"] == ["5.3.4"]
    assert [r for r in stack.records() if r["subject"] == title] == []


def test_redis_down_then_up_delivers_once_after_postfix_retries(
    stack: Stack, relay: Postfix
) -> None:
    title = messages.subject("outage")
    stack.redis.stop()
    try:
        queue_id = relay.submit(messages.ascii_message(title), SENDER, ["support@example.com"])
        deferred = relay.wait_for_log(rf"{queue_id}: to=<support@example.com>.*status=deferred.*")
        assert "said: 451 4.3.0" in deferred.group(0), deferred.group(0)
    finally:
        stack.redis.start()
    relay.flush()
    relay.wait_for_log(rf"{queue_id}: to=<support@example.com>.*status=sent")
    records = stack.wait_for(title, settle=3)
    assert len(records) == 1
