"""`python -m bench` (also `make bench`): the listener and worker benchmarks, then a summary.

Options narrow or shorten the run; `--quick` is a few minutes' sanity run with the same method.
Figures are only comparable within one run: the machine is shared, so each ratio is computed
from servers measured side by side in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench.report import BenchError, Results, fmt_ratio

SIZES = {"2k": 2048, "50k": 51_200, "1m": 1_048_576}


def _sizes(value: str) -> list[int]:
    out = []
    for item in value.split(","):
        item = item.strip().lower()
        out.append(SIZES[item] if item in SIZES else int(item))
    return out


def _ints(value: str) -> list[int]:
    return [int(item) for item in value.split(",") if item.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", choices=["listener", "workers", "auth"], help="run one part only")
    parser.add_argument("--quick", action="store_true", help="fewer cells, shorter runs")
    parser.add_argument("--sizes", type=_sizes, help="payload sizes: 2k,50k,1m or bytes")
    parser.add_argument("--concurrency", type=_ints, help="concurrent clients, e.g. 1,10,50")
    parser.add_argument("--seconds", type=float, help="target length of one run (default 3)")
    parser.add_argument("--reps", type=int, help="repetitions of every cell (default 2)")
    parser.add_argument("--processes", type=_ints, help="listener/worker processes (default 1,2)")
    parser.add_argument("--peers", default="haraka,smtp-sink", help="extra peers, or 'none'")
    parser.add_argument("--messages", type=int, help="worker bench: messages per run")
    parser.add_argument(
        "--redis-wait",
        action="store_true",
        help="also measure MAILBUS_REDIS_WAIT=aof (slow: WAITAOF waits for the fsync)",
    )
    parser.add_argument(
        "--routes",
        action="store_true",
        help="also measure bench.routes' 50 routes: MAILBUS_RECIPIENT_CHECK=router, worker routing",
    )
    parser.add_argument(
        "--fetch-smtp-sink",
        action="store_true",
        help="unpack Postfix's smtp-sink under bench/.postfix (apt-get download), then run",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.sizes = args.sizes or ([2048, 51_200] if quick else [2048, 51_200, 1_048_576])
    args.concurrency = args.concurrency or ([10] if quick else [1, 10, 50])
    args.seconds = args.seconds or (1.5 if quick else 3.0)
    args.reps = args.reps or 2
    args.processes = args.processes or [1, 2]
    args.messages = args.messages or (300 if quick else 2000)
    args.peers = tuple(p for p in args.peers.split(",") if p and p != "none")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.fetch_smtp_sink:
        from bench.peers import extract_smtp_sink

        print(extract_smtp_sink())
    results = Results()
    print(f"results: {results.path}")
    started = time.monotonic()
    summary: dict[str, dict] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="mailbus-bench-") as tmp:
            work = Path(tmp)
            if args.only in (None, "listener"):
                from bench.listener_bench import run_listener_bench

                summary["listener"] = run_listener_bench(
                    sizes=args.sizes,
                    concurrencies=args.concurrency,
                    seconds=args.seconds,
                    reps=args.reps,
                    processes=args.processes,
                    results=results,
                    work=work,
                    peer_names=args.peers,
                    redis_wait=args.redis_wait,
                    routes=args.routes,
                )
            if args.only in (None, "workers"):
                from bench.worker_bench import run_worker_bench

                summary["workers"] = run_worker_bench(
                    messages=args.messages,
                    reps=args.reps,
                    processes=args.processes,
                    results=results,
                    work=work,
                    routes=args.routes,
                )
            if args.only in (None, "auth"):
                from bench.auth_bench import run_auth_bench

                summary["auth"] = run_auth_bench(
                    messages=args.messages,
                    reps=args.reps,
                    processes=args.processes,
                    results=results,
                    work=work,
                )
    except BenchError as exc:
        print(f"\nBENCH FAILED: {exc}", file=sys.stderr)
        results.write("failed", error=str(exc))
        return 1
    print(f"\nSummary of ratios ({time.monotonic() - started:.0f} s, results in {results.path})")
    for side, found in summary.items():
        for name, value in found.get("ratios", {}).items():
            print(f"  {side:<8} {name:<40} {fmt_ratio(value)}")
        for note in found.get("skipped", []):
            print(f"  {side:<8} skipped: {note}")
    results.write("summary", **summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
