"""Issue 12 defect 8: of several Date: headers the first that parses is used, with a defect."""

from __future__ import annotations

from datetime import UTC, datetime

from mailbus.message import Defect
from mailbus.parse import parse


def test_first_parseable_date_wins_over_an_unparseable_first() -> None:
    msg = parse(
        b"Date: sometime last week\r\nDate: Tue, 02 Jan 2024 10:30:00 +0100\r\n"
        b"Date: Wed, 03 Jan 2024 10:30:00 +0100\r\n\r\nx\r\n"
    )
    assert msg.date.raw == "Tue, 02 Jan 2024 10:30:00 +0100"
    assert msg.date.parsed == datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
    assert Defect("", "invalid_date", "sometime last week") in msg.defects


def test_only_unparseable_dates_keep_the_first_raw_value() -> None:
    msg = parse(b"Date: never\r\nDate: not either\r\n\r\nx\r\n")
    assert (msg.date.raw, msg.date.parsed) == ("never", None)


def test_a_single_good_date_has_no_defect() -> None:
    msg = parse(b"Date: Tue, 02 Jan 2024 10:30:00 +0100\r\n\r\nx\r\n")
    assert msg.date.parsed is not None and msg.defects == []
