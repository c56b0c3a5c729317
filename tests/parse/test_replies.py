"""The reply corpus (tests/parse/replies/): `stripped_text` must match each expected file exactly.

Each `NN-name.txt` is a text/plain body as a mail client writes it; `NN-name.expected.txt` is
the new text a person would keep (see replies/README.md for the rules). The share of exact
matches is printed so a change can be compared with `pytest -s`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbus.parse import parse

REPLIES = Path(__file__).parent / "replies"
CASES = sorted(p for p in REPLIES.glob("*.txt") if not p.name.endswith(".expected.txt"))


def stripped(text: str) -> str | None:
    raw = b"Subject: Re: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text.encode()
    return parse(raw).stripped_text


def expected(case: Path) -> str:
    return case.with_name(case.name.replace(".txt", ".expected.txt")).read_text().strip("\n")


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[p.stem for p in CASES])
def test_reply_is_stripped_exactly(case: Path) -> None:
    assert stripped(case.read_text()) == expected(case)


def test_share_exactly_right() -> None:
    right = sum(stripped(case.read_text()) == expected(case) for case in CASES)
    print(f"\nreply corpus: {right}/{len(CASES)} exactly right")
    assert right == len(CASES)
