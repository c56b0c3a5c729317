"""A byte-order mark or an mbox `From ` line in front of the headers, with and without the trace
block the listener prepends: the worker's parse and `mailbus.testing.deliver` must agree."""

from __future__ import annotations

import pytest

from mailbus import Router
from mailbus.envelope import Envelope
from mailbus.parse import parse
from mailbus.testing import deliver
from mailbus.trace import trace_headers

BOM = b"\xef\xbb\xbf"
MBOX = b"From ada@example.org Mon Jan  1 00:00:00 2024\r\n"
MESSAGE = (
    b"From: Ada Lovelace <ada@example.org>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: Printer on fire\r\n"
    b"\r\n"
    b"It is still burning.\r\n"
)
ENVELOPE = Envelope(
    mail_from="ada@example.org",
    rcpt_tos=("support@example.com",),
    helo="client.test",
    peer="127.0.0.1:40000",
    received_at=1_700_000_000.0,
)
LEADS = {"bom": BOM, "mbox": MBOX, "bom+mbox": BOM + MBOX}
router = Router()


@router.route(to="*@example.com")
def take(msg: object) -> None:
    pass


def stored(raw: bytes) -> bytes:
    """The bytes as the listener stores them: its trace block, then the bytes as received."""
    return trace_headers(ENVELOPE, "01TEST", "mx.test") + raw


@pytest.mark.parametrize("lead", LEADS.values(), ids=LEADS.keys())
@pytest.mark.parametrize("traced", [False, True], ids=["bare", "traced"])
def test_leading_bom_or_mbox_line_is_skipped_with_a_defect(lead: bytes, traced: bool) -> None:
    raw = lead + MESSAGE
    msg = parse(stored(raw) if traced else raw, ENVELOPE)
    assert msg.subject == "Printer on fire"
    assert msg.from_ is not None and msg.from_.email == "ada@example.org"
    assert [a.email for a in msg.to] == ["support@example.com"]
    assert msg.text == "It is still burning.\n"
    kinds = {d.kind for d in msg.defects}
    assert ("byte_order_mark" in kinds) == lead.startswith(BOM)
    assert ("garbage_before_headers" in kinds) == (MBOX in lead)


@pytest.mark.parametrize("lead", [b"", *LEADS.values()], ids=["none", *LEADS.keys()])
def test_deliver_parses_the_bytes_as_the_worker_does(lead: bytes) -> None:
    raw = lead + MESSAGE
    worker = parse(stored(raw), ENVELOPE, msg_id="01TEST", raw_key="raw/01TEST")
    delivery = deliver(router, raw, to="support@example.com", mail_from="ada@example.org")
    helper = delivery.message
    assert delivery.ran(take)
    assert (helper.subject, helper.from_, helper.to) == (worker.subject, worker.from_, worker.to)
    assert helper.text == worker.text
    assert helper.defects == worker.defects
    assert [h.name for h in helper.headers] == [h.name for h in worker.headers]
    untraced = [h for h in worker.headers if h.name not in ("Received",)]
    assert [h for h in helper.headers if h.name != "Received"] == untraced
