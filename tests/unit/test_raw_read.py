"""`msg.raw.read()`: the stored bytes in `mailbus.testing.deliver`; an error without a store."""

from __future__ import annotations

from typing import Any

import pytest

from mailbus import Router, parse
from mailbus.testing import deliver

EML = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n"


def test_deliver_gives_handlers_the_bytes_as_stored() -> None:
    router = Router()
    seen: list[bytes] = []

    @router.route(to="b@example.com")
    def keep(msg: Any) -> None:
        seen.append(msg.raw.read())

    delivery = deliver(router, EML)
    (raw,) = seen
    assert raw.startswith(b"Return-Path: <a@example.org>\r\n") and raw.endswith(EML)
    assert len(raw) == delivery.message.raw.size
    assert "_reader" not in delivery.message.to_dict()["raw"]


def test_a_message_parsed_without_a_store_says_so() -> None:
    with pytest.raises(RuntimeError, match="no store behind it"):
        parse(EML).raw.read()
