"""The console's list page with 100,000 messages in the index (issue 14: p95 under 200 ms).

Run by hand, not in the test suite: `python -m bench.console_bench [--messages 100000]`. It fills
a private Redis (never the shared one) the way the listener's writer does (raw bytes with the
Redis store, the RQ job, the timeline and the index, 64 messages per transaction), starts
`mailbus console` on loopback, and times over HTTP: the first page, pages at random offsets
(rows the console has not read before, so their summaries are fetched and parsed), the same
pages again, and a subject search. Prints p50/p95/max per kind of request.
"""

from __future__ import annotations

import argparse
import http.client
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench.procs import python_env, wait_port
from mailbus.envelope import Envelope
from mailbus.ids import new_message_id
from mailbus.queue import JobWriter, MessageJob
from mailbus.redis_server import RedisServer, free_port
from mailbus.settings import Settings
from mailbus.status import encode, record_many
from mailbus.stores import RedisStore, raw_key

GROUP = 64


def message(i: int) -> bytes:
    body = f"Line {i} of a message body that is long enough to look like mail.\r\n" * 20
    return (
        f"From: Sender {i} <sender{i}@example.org>\r\nTo: support@example.com\r\n"
        f"Subject: Bench message number {i}\r\nMessage-ID: <{i}@example.org>\r\n\r\n{body}"
    ).encode()


def fill(connection: redis.Redis, settings: Settings, count: int) -> None:
    store, writer = RedisStore(connection), JobWriter(connection, settings)
    for start in range(0, count, GROUP):
        jobs, timelines = [], {}
        with connection.pipeline(transaction=True) as pipe:
            for i in range(start, min(count, start + GROUP)):
                message_id, raw = new_message_id(), message(i)
                store.put_raw(raw_key(message_id), raw, pipeline=pipe)
                envelope = Envelope(f"sender{i}@example.org", ("support@example.com",))
                jobs.append(MessageJob(message_id, raw_key(message_id), envelope, "0" * 64))
                timelines[message_id] = encode(
                    {"event": "received", "size": len(raw)}, {"event": "queued"}
                )
            writer.enqueue(pipe, jobs)
            record_many(pipe, settings.dedupe_window, timelines)
            pipe.execute()


def timed(conn: http.client.HTTPConnection, path: str) -> float:
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    assert response.status == 200, (path, response.status)
    return (time.perf_counter() - started) * 1000


def report(name: str, millis: list[float]) -> None:
    ordered = sorted(millis)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(f"{name:<28} n={len(ordered):<4} p50={statistics.median(ordered):7.1f} ms  "
          f"p95={p95:7.1f} ms  max={ordered[-1]:7.1f} ms")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory), appendonly=False).start()
        try:
            connection = redis.Redis.from_url(server.url)
            started = time.perf_counter()
            fill(connection, Settings(), args.messages)
            print(f"filled {args.messages:,} messages in {time.perf_counter() - started:.1f} s")
            port = free_port()
            env = python_env(
                MAILBUS_REDIS_URL=server.url,
                MAILBUS_STORE="redis",
                MAILBUS_CONSOLE_PORT=str(port),
                MAILBUS_LOG_LEVEL="warning",
            )
            console = subprocess.Popen([sys.executable, "-m", "mailbus", "console"], env=env)
            try:
                wait_port(port, process=console)
                run(port, args.messages, args.requests)
            finally:
                console.terminate()
                console.wait()
        finally:
            server.stop()
    return 0


def run(port: int, total: int, requests: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    rng = random.Random(14)
    offsets = [rng.randrange(0, total - 50) for _ in range(requests)]
    report("first page, first load", [timed(conn, "/messages")])
    report("first page (live poll)", [timed(conn, "/messages/rows") for _ in range(requests)])
    report("first page", [timed(conn, "/messages") for _ in range(requests)])
    report("random pages, cold", [timed(conn, f"/messages?offset={o}") for o in offsets])
    report("random pages, warm", [timed(conn, f"/messages?offset={o}") for o in offsets])
    words = [f"/messages?q=number+{rng.randrange(total)}" for _ in range(20)]
    report("search (2,000 scanned)", [timed(conn, path) for path in words])


if __name__ == "__main__":
    sys.exit(main())
