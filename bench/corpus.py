"""A corpus-shaped message mix for the worker bench, read from ../shared/corpus at run time.

The shared corpus (real-world messages from other parsers' test suites) is only read, never
copied into the repository; where it is absent the corpus mix is skipped with the reason.
Messages are normalised to CRLF line endings, as they arrive over SMTP.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from bench.procs import ROOT

DEFAULT = ROOT.parent / "shared" / "corpus"
MAX_BYTES = 1 << 20
_NOT_MESSAGES = ("fixtures/attachments", "_data/emails/files", "sisimai-set-of-emails/mailbox")
_NEWLINE = re.compile(rb"\r?\n")


def corpus_files(root: Path) -> list[Path]:
    """Every `.eml` of at most 1 MB, outside the folders that hold attachment samples."""
    return sorted(
        p
        for p in root.rglob("*.eml")
        if p.is_file()
        and p.stat().st_size <= MAX_BYTES
        and not any(part in p.as_posix() for part in _NOT_MESSAGES)
    )


def corpus_mix(count: int, root: Path = DEFAULT, *, seed: int = 4) -> list[bytes] | str:
    """Up to `count` distinct messages sampled with a fixed seed, or why there are none."""
    if not root.is_dir():
        return f"corpus mix: {root} is absent (it exists only beside the project's checkout)"
    files = corpus_files(root)
    if not files:
        return f"corpus mix: no .eml files under {root}"
    chosen = random.Random(seed).sample(files, min(count, len(files)))
    return [_NEWLINE.sub(b"\r\n", path.read_bytes()) for path in chosen]
