"""Issue 12 defect 5: empty groups and comments yield no address; every From mailbox is kept."""

from __future__ import annotations

from mailbus.parse import parse


def test_empty_group_and_a_comment_after_it_are_not_addresses() -> None:
    msg = parse(
        b"To: undisclosed-recipients:; (no one)\r\nCc: Team: c@z.com;, (just a comment)\r\n"
        b"Bcc: (only a comment)\r\n\r\nx\r\n"
    )
    assert msg.to == [] and msg.bcc == []
    assert [(a.email, a.group) for a in msg.cc] == [("c@z.com", "Team")]
    assert "invalid_address" not in [d.kind for d in msg.defects]


def test_several_from_mailboxes_are_all_kept() -> None:
    msg = parse(
        b"From: Ann <ann@example.com>, bob@example.org\r\nSender: ann@example.com\r\n\r\nx\r\n"
    )
    assert msg.from_ is not None and msg.from_.email == "ann@example.com"
    assert [(a.name, a.email) for a in msg.from_all] == [
        ("Ann", "ann@example.com"),
        ("", "bob@example.org"),
    ]
    assert msg.to_dict()["from_all"][1]["email"] == "bob@example.org"


def test_single_from_is_the_only_entry_of_from_all() -> None:
    msg = parse(b"From: ann@example.com\r\n\r\nx\r\n")
    assert msg.from_all == [msg.from_]
    assert parse(b"Subject: no from\r\n\r\nx\r\n").from_all == []
