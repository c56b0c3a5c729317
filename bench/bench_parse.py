"""Parse throughput on the shared corpus: `mailbus.parse` against the stdlib and a Rust parser.

Run `python bench/bench_parse.py [--rounds N] [CORPUS_DIR]`. The stdlib side is what a handler
would otherwise write: `message_from_bytes(policy=default)` plus a walk that decodes every leaf
(`get_content`, exceptions swallowed). The Rust side is fast-mail-parser (PyO3 over Rust's
mailparse, dev dependency), which decodes bodies and attachments in one call but does no charset
guessing, reply stripping, classification or security. Rounds are interleaved and each side's
best round counts, so load from other processes skews the ratios less. Prints messages/s and the
ratios in one run; timings only, no assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mailbus.parse import parse

fast_mail_parser = None
with contextlib.suppress(ImportError):  # a dev dependency: without it the bench still runs
    import fast_mail_parser

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.parse.test_corpus import CORPUS, corpus_files  # noqa: E402


def stdlib_parse(raw: bytes) -> int:
    """Parse and decode every leaf the way a hand-written handler would."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        leaves = 0
        for part in msg.walk():
            if part.is_multipart():
                continue
            try:
                part.get_content()  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - the stdlib raises on bad charsets etc.
                pass
            leaves += 1
        return leaves
    except Exception:  # noqa: BLE001
        return -1


def rust_parse(raw: bytes) -> int:
    """fast-mail-parser's full parse (bodies and attachments decoded); errors count as done."""
    try:
        mail = fast_mail_parser.parse_email(raw)
        return len(mail.attachments)
    except Exception:  # noqa: BLE001 - it raises on malformed input; that is its answer
        return -1


def one_round(func: Callable[[bytes], object], messages: list[bytes]) -> float:
    """Seconds for one pass of `func` over every message."""
    started = time.perf_counter()
    for raw in messages:
        func(raw)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=os.environ.get("MAILBUS_CORPUS", CORPUS))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    messages = [p.read_bytes() for p in corpus_files(Path(args.corpus))]
    size = sum(map(len, messages)) / 1e6
    sides: dict[str, Callable[[bytes], object]] = {
        "mailbus.parse": parse,
        "stdlib email": stdlib_parse,
    }
    if fast_mail_parser is not None:
        sides["fast-mail-parser"] = rust_parse
    print(f"{len(messages)} messages, {size:.1f} MB, best of {args.rounds} interleaved rounds")
    best = dict.fromkeys(sides, float("inf"))
    for _ in range(args.rounds):  # interleaved, best round kept: a busy machine slows all alike
        for name, func in sides.items():
            best[name] = min(best[name], one_round(func, messages))
    rate = {name: len(messages) / took for name, took in best.items()}
    for name, took in best.items():
        print(f"{name:>16}: {rate[name]:9.0f} msg/s ({took:.2f} s a round)")
    ours = rate["mailbus.parse"]
    print(f"ratio: mailbus.parse is {ours / rate['stdlib email']:.2f}x the stdlib's throughput")
    if "fast-mail-parser" not in rate:
        print("fast-mail-parser is not installed: no Rust comparison")
        return
    rust = rate["fast-mail-parser"]
    print(f"ratio: mailbus.parse is {ours / rust:.2f}x fast-mail-parser's throughput (Rust)")


if __name__ == "__main__":
    main()
