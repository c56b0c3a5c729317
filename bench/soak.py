"""`python -m bench.soak`: an hour of SMTP load on the listener (docs/threat-model.md B16).

Like Postfix's `smtp-source -s 100 -l 102400 -r 5 -N` (a new connection per message, numbered
recipients) against `mailbus listen` (Redis store) and `mailbus worker --processes 2` on a
private Redis, with a few sessions trickling their message just above MAILBUS_MIN_DATA_RATE and
a few 30 MB messages alongside. Every --interval it samples the listener's RSS and open FDs.
At the end it drains the workers and checks: 250s == finished + dead-lettered jobs (zero loss),
no 5xx, p99 end-of-DATA latency under MAILBUS_PERSIST_TIMEOUT, flat RSS and FDs, and that every
slow and big upload got its 250. A failed check ends with "SOAK FAILED: <reason>", exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.loadgen import Refused, Send, deliver, quantile, runner, send_all
from bench.messages import smtp_message
from bench.report import RESULTS, Results
from bench.soak_stack import Stack

MIB = 1 << 20
RSS_GROWTH = 100 * MIB  # generous: keeping every 100 KB message at 40/s crosses it in 30 s
FD_MARGIN = 10  # idle after the run vs idle before it (the Redis pool may keep a few more)


class Abandoned(Exception):
    """A slow upload cut short by the end of the run, before its final dot: never accepted."""


@dataclass
class Tally:
    """What the clients saw; counters are keyed by kind of session (normal, slow, big)."""

    started: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # "<kind> <step> <code>" or error
    permanent: int = 0  # 5xx replies: well-formed mail must never get one
    abandoned: int = 0
    latencies: list[float] = field(default_factory=list)  # end of DATA -> reply, seconds

    def latency_ms(self) -> dict[str, float]:
        quantiles = {"p50_ms": 0.5, "p99_ms": 0.99, "max_ms": 1.0}
        return {k: round(quantile(self.latencies, q) * 1000, 1) for k, q in quantiles.items()}


class Load:
    """The clients: paced normal sessions, slow tricklers, and big messages at set times."""

    def __init__(self, args: argparse.Namespace, port: int, slow_rate: float, budget: float):
        self.args, self.port, self.slow_rate, self.budget = args, port, slow_rate, budget
        self.data = smtp_message(args.size) + b".\r\n"
        self.big_data = smtp_message(args.big_size) + b".\r\n" if args.big else b""
        self.tally = Tally()
        self.stop = asyncio.Event()
        self.serial = itertools.count()
        self.slots = itertools.count()

    def clients(self, seconds: float) -> list[Any]:
        """Coroutines for every client; the big messages start evenly spread over the run."""
        start = time.monotonic()
        spacing = seconds / max(1, self.args.big)
        return [
            *(self._normal(start) for _ in range(self.args.sessions)),
            *(self._slow() for _ in range(self.args.slow)),
            *(self._big((i + 0.5) * spacing) for i in range(self.args.big)),
        ]

    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), seconds)

    async def _normal(self, start: float) -> None:
        while not self.stop.is_set():
            if self.args.rate:
                await self._pause(start + next(self.slots) / self.args.rate - time.monotonic())
                if self.stop.is_set():
                    return
            await self.one("normal", self.data, send_all, self.budget)

    async def _slow(self) -> None:
        limit = self.budget + len(self.data) / self.slow_rate
        while not self.stop.is_set():
            await self.one("slow", self.data, self._trickle, limit)

    async def _big(self, delay: float) -> None:
        await self._pause(delay)
        if not self.stop.is_set():
            await self.one("big", self.big_data, send_all, self.budget)

    async def _trickle(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        """Write at slow_rate bytes/s in half-second steps; once the run is over, give up before
        the next step, so an abandoned upload never completes its final dot."""
        step = max(1, int(self.slow_rate / 2))
        start = time.monotonic()
        for offset in range(0, len(data), step):
            await asyncio.sleep(max(0.0, start + offset / self.slow_rate - time.monotonic()))
            if self.stop.is_set():
                raise Abandoned
            await send_all(writer, data[offset : offset + step])

    async def one(self, kind: str, data: bytes, send: Send, limit: float) -> None:
        serial, tally = next(self.serial), self.tally
        rcpts = [
            b"RCPT TO:<bench+%d.%d@example.com>\r\n" % (serial, i)
            for i in range(self.args.recipients)
        ]
        tally.started[kind] += 1
        try:
            async with asyncio.timeout(limit):
                _, latency = await deliver("127.0.0.1", self.port, data, rcpts=rcpts, send=send)
        except Abandoned:
            tally.abandoned += 1
            return
        except Refused as exc:
            tally.refused[f"{kind} {exc}"] += 1
            tally.permanent += exc.code >= 500
            if exc.latency is not None:
                tally.latencies.append(exc.latency)
            return
        except (OSError, TimeoutError) as exc:
            tally.refused[f"{kind} {type(exc).__name__}"] += 1
            return
        tally.accepted[kind] += 1
        tally.latencies.append(latency)


async def drive(load: Load, stack: Stack, seconds: float, interval: float) -> None:
    """Run the clients for `seconds`, sampling the listener every `interval` (in a thread, so
    the clients keep their pace); then stop them and wait for the ones in flight."""
    clients = asyncio.gather(*load.clients(seconds))
    start = time.monotonic()
    try:
        for tick in itertools.count(1):
            due = min(tick * interval, seconds)
            await asyncio.sleep(max(0.0, start + due - time.monotonic()))
            elapsed = time.monotonic() - start
            await asyncio.to_thread(stack.sample, elapsed, load.tally.accepted.total())
            if due >= seconds:
                break
    finally:
        load.stop.set()
        await clients


def checks(tally: Tally, jobs: dict[str, int], stack: Stack, warmup: float) -> list[str]:
    """Print each check's line; return the failed ones."""
    failed: list[str] = []

    def check(ok: bool, line: str) -> None:
        print(f"  {'OK  ' if ok else 'FAIL'} {line}")
        if not ok:
            failed.append(line)

    accepted, done = tally.accepted.total(), jobs["finished"] + jobs["failed"]
    check(accepted == done and not jobs["left"],
          f"zero loss: {accepted} accepted, {jobs['finished']} finished + {jobs['failed']}"
          f" failed = {done}, {jobs['left']} left in the queue")  # fmt: skip
    refused = ", ".join(f"{k}: {n}" for k, n in tally.refused.most_common(8)) or "none"
    check(not tally.permanent, f"no 5xx: {tally.permanent} 5xx; refusals: {refused}")
    ms, budget = tally.latency_ms(), stack.settings.persist_timeout
    check(bool(tally.latencies) and ms["p99_ms"] < budget * 1000,
          f"latency end of DATA -> reply: p50 {ms['p50_ms']} ms, p99 {ms['p99_ms']} ms,"
          f" max {ms['max_ms']} ms; persist budget {budget:g} s")  # fmt: skip
    after = [s for s in stack.samples if s["elapsed"] >= warmup] or stack.samples[-1:]
    first, last = after[0]["rss"] / MIB, after[-1]["rss"] / MIB
    peak = max(s["rss"] for s in stack.samples) / MIB
    check(last - first < RSS_GROWTH / MIB,
          f"listener RSS: {first:.1f} MiB after warm-up, {last:.1f} MiB at the end"
          f" ({last - first:+.1f}, bound {RSS_GROWTH // MIB}), max {peak:.1f} MiB")  # fmt: skip
    fds, peak_fds = stack.idle_fds, max(s["fds"] for s in stack.samples)
    check(fds[-1] - fds[0] <= FD_MARGIN,
          f"listener FDs: {fds[0]} idle before, {fds[-1]} idle after (bound +{FD_MARGIN}),"
          f" max {peak_fds} under load")  # fmt: skip
    slow = tally.accepted["slow"], tally.started["slow"] - tally.abandoned
    big = tally.accepted["big"], tally.started["big"]
    check(slow[0] == slow[1] and big[0] == big[1],
          f"slow and big uploads: {slow[0]}/{slow[1]} slow and {big[0]}/{big[1]} big accepted"
          f" ({tally.abandoned} slow cut short by the end of the run)")  # fmt: skip
    return failed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    add = parser.add_argument
    add("--minutes", type=float, default=60.0, help="length of the load (default 60)")
    add("--sessions", type=int, default=100, help="concurrent normal clients (default 100)")
    add(
        "--rate",
        type=float,
        default=40.0,
        help="messages/s the normal clients start, spread over them; 0 = as fast as they can",
    )
    add("--size", type=int, default=102_400, help="payload bytes per message (default 100 KB)")
    add("--recipients", type=int, default=5, help="numbered recipients per message (default 5)")
    add("--slow", type=int, default=3, help="sessions trickling their message (default 3)")
    add("--slow-rate", type=float, help="their bytes/s (default 1.2 x MAILBUS_MIN_DATA_RATE)")
    add("--big", type=int, default=3, help="big messages spread over the run (default 3)")
    add("--big-size", type=int, default=30 * MIB, help="their payload bytes (default 30 MB)")
    add("--workers", type=int, default=2, help="mailbus worker --processes (default 2)")
    add("--interval", type=float, default=10.0, help="seconds between samples (default 10)")
    add("--drain-seconds", type=float, default=300.0, help="bound on the final drain")
    add("--results", type=Path, default=RESULTS, help="directory of the JSON lines")
    return parser.parse_args(argv)


def soak(args: argparse.Namespace, results: Results, work: Path) -> list[str]:
    """Run the whole soak; return the failed checks."""
    seconds = args.minutes * 60
    warmup = min(300.0, seconds / 10)
    with Stack(work, results, big_size=args.big_size, workers=args.workers) as stack:
        slow_rate = args.slow_rate or 1.2 * stack.settings.min_data_rate
        budget = stack.settings.persist_timeout + 60  # a client waits this long for any reply
        print(
            f"soak: {args.minutes:g} min, {args.sessions} sessions at {args.rate:g} msg/s,"
            f" {args.size} B x {args.recipients} rcpts, {args.slow} slow at {slow_rate:g} B/s,"
            f" {args.big} x {args.big_size} B; listener on port {stack.port}",
            flush=True,
        )
        stack.sample_idle_fds()
        load = Load(args, stack.port, slow_rate, budget)
        runner()(drive(load, stack, seconds, args.interval))
        stack.sample_idle_fds()
        jobs = stack.drain(args.drain_seconds)
        failed = checks(load.tally, jobs, stack, warmup)
        counts = {k: v for k, v in vars(load.tally).items() if k != "latencies"}
        settings = {k: str(v) for k, v in vars(args).items()}
        results.write("soak-summary", args=settings, jobs=jobs, idle_fds=stack.idle_fds,
                      **counts, **load.tally.latency_ms(), failed=failed)  # fmt: skip
    return failed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = Results(args.results)
    with tempfile.TemporaryDirectory(prefix="mailbus-soak-") as work:
        try:
            failed = soak(args, results, Path(work))
        except RuntimeError as exc:  # a process died or never started
            failed = [str(exc)]
    print(f"results: {results.path}")
    if failed:
        print(f"SOAK FAILED: {'; '.join(failed)}")
        return 1
    print("soak passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
