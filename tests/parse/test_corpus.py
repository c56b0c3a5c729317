"""Robustness sweep over the shared real-world corpus (skipped where it is absent).

Every message must parse without raising, within a per-message time cap, and keep what the
standard library can find: a text/plain part means a text body, and at least as many attachments
as the stdlib finds named leaf parts. Figures (count, p50/p99/max ms) are printed with `-s`.
"""

from __future__ import annotations

import email
import email.policy
import os
import time
from email.message import Message
from pathlib import Path

import pytest

from mailbus.parse import parse

CORPUS = Path(
    os.environ.get("MAILBUS_CORPUS")
    or Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
)
# Folders of sample files that are attachments themselves, and mbox files (several messages).
_NOT_MESSAGES = ("fixtures/attachments", "_data/emails/files", "sisimai-set-of-emails/mailbox")
_NOT_MESSAGE_NAMES = {
    "README.md",
    "SOURCE.txt",
    "MISSING.txt",
    "LICENSE",
    "LICENSE.txt",
    "MIT-LICENSE",
}
PER_MESSAGE_SECONDS = 2.0


def corpus_files(root: Path = CORPUS) -> list[Path]:
    """Every raw message in the corpus, skipping licences, READMEs and non-message samples."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.name not in _NOT_MESSAGE_NAMES
        and not any(part in p.as_posix() for part in _NOT_MESSAGES)
    )


def _stdlib_view(raw: bytes) -> tuple[int, bool]:
    """What the stdlib finds: (named leaf parts, whether a text/plain body part exists).

    A text/plain body part is one outside any message/* part and not marked as an attachment.
    Returns (0, False) where the stdlib itself fails.
    """
    try:
        root = email.message_from_bytes(raw, policy=email.policy.compat32)
        named, plain = 0, False
        stack: list[tuple[Message, bool]] = [(root, False)]
        while stack:
            part, inside_message = stack.pop()
            ctype = part.get_content_type()
            if part.is_multipart():
                nested = inside_message or ctype.startswith("message/")
                stack.extend((child, nested) for child in part.get_payload())
                continue
            disposition = (part.get_content_disposition() or "").lower()
            body = ctype == "text/plain" and disposition != "attachment" and not inside_message
            plain = plain or body
            named += part.get_filename() is not None
        return named, plain
    except Exception:  # noqa: BLE001 - the stdlib failing just means no baseline
        return 0, False


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS} (MAILBUS_CORPUS)")
def test_corpus_parses_within_budget_and_keeps_bodies_and_attachments() -> None:
    files = corpus_files()
    assert files, f"no messages under {CORPUS}"
    timings: list[float] = []
    problems: list[str] = []
    defects = 0
    for path in files:
        raw = path.read_bytes()
        started = time.perf_counter()
        msg = parse(raw, raw_key=str(path))
        took = time.perf_counter() - started
        timings.append(took)
        name = path.relative_to(CORPUS).as_posix()
        defects += len(msg.defects)
        if took > PER_MESSAGE_SECONDS:
            problems.append(f"{name}: {took:.2f}s")
        if any(d.kind == "parser_error" for d in msg.defects):
            problems.append(f"{name}: {msg.defects}")
        named, plain = _stdlib_view(raw)
        if len(msg.attachments) < named:
            problems.append(f"{name}: {len(msg.attachments)} attachments, stdlib finds {named}")
        if plain and msg.text is None:
            problems.append(f"{name}: stdlib finds text/plain, we have no text")
    timings.sort()
    ms = [t * 1000 for t in timings]
    p50, p99 = ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"\ncorpus: {len(ms)} messages, p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {ms[-1]:.2f} ms, "
        f"{defects} defects recorded"
    )
    assert not problems, "\n".join(problems)
