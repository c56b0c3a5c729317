"""The SMTP load generator: C concurrent clients, a new TCP connection per message.

Like Postfix's smtp-source, each message is its own session (greeting, EHLO, MAIL, RCPT, DATA,
QUIT). Only a `250` to the end of DATA counts as a success; anything else is an error with its
reason. It runs in its own process (`python -m bench.loadgen ...`, one JSON line on stdout) so
it never shares a GIL with the server under test, on uvloop when that is installed. Every run is
bounded twice: by the message count and by `max_seconds`, after which no new message starts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bench.messages import smtp_message

EHLO = b"EHLO loadgen.example.org\r\n"
MAIL = b"MAIL FROM:<loadgen@example.org>\r\n"
RCPT = b"RCPT TO:<bench@example.com>\r\n"


class Refused(Exception):
    """A reply other than the one the step expects; its text is the error reason.

    `code` is the reply's code (0 when the connection closed); `latency` is set when the refusal
    answered the end of DATA, so a soak counts slow refusals in its latency figures too.
    """

    def __init__(self, reason: str, code: int = 0) -> None:
        super().__init__(reason)
        self.code = code
        self.latency: float | None = None


async def _reply(reader: asyncio.StreamReader) -> bytes:
    """The last line of one (possibly multi-line) reply."""
    while True:
        line = await reader.readline()
        if len(line) < 4:
            raise Refused("connection closed" if not line else f"bad reply {line[:40]!r}")
        if line[3:4] != b"-":
            return line


async def _expect(reader: asyncio.StreamReader, step: str, wanted: int) -> None:
    line = await _reply(reader)
    if int(line[:3]) != wanted:
        # The code and the enhanced status code, when the reply has one ("421 4.7.0").
        words = line.decode("ascii", "replace").split()
        code = " ".join(words[:2]) if len(words) > 1 and words[1][:1] in "245" else words[0]
        raise Refused(f"{step} {code}", int(line[:3]))


async def send_all(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


Send = Callable[[asyncio.StreamWriter, bytes], Awaitable[None]]


async def deliver(
    host: str, port: int, data: bytes, *, rcpts: Sequence[bytes] = (RCPT,), send: Send = send_all
) -> tuple[float, float]:
    """One message in its own connection, the message written by `send`; returns seconds from
    connect, and from the end of DATA (handed to the socket), to the DATA reply."""
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        await _expect(reader, "greeting", 220)
        writer.write(EHLO)
        await _expect(reader, "EHLO", 250)
        writer.write(MAIL)
        await _expect(reader, "MAIL", 250)
        for rcpt in rcpts:
            writer.write(rcpt)
            await _expect(reader, "RCPT", 250)
        writer.write(b"DATA\r\n")
        await _expect(reader, "DATA", 354)
        await send(writer, data)
        sent = time.perf_counter()
        try:
            await _expect(reader, "end of DATA", 250)
        except Refused as exc:
            exc.latency = time.perf_counter() - sent
            raise
        replied = time.perf_counter()
        writer.write(b"QUIT\r\n")
        await _reply(reader)
        return replied - start, replied - sent
    finally:
        writer.close()


async def session(host: str, port: int, data: bytes) -> float:
    """One message in its own connection; returns seconds from connect to the DATA reply."""
    return (await deliver(host, port, data))[0]


def quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_load(
    *,
    host: str = "127.0.0.1",
    port: int,
    size: int,
    concurrency: int,
    count: int,
    max_seconds: float = 60.0,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Send `count` messages of `size` payload bytes with `concurrency` clients; the figures."""
    data = smtp_message(size) + b".\r\n"
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    remaining = count
    start = time.perf_counter()
    deadline = start + max_seconds
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)

    async def client() -> None:
        nonlocal remaining
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            try:
                async with asyncio.timeout(timeout):
                    latencies.append(await session(host, port, data))
            except Refused as exc:
                errors[str(exc)] += 1
            except (OSError, TimeoutError) as exc:
                errors[type(exc).__name__] += 1

    await asyncio.gather(*(client() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    ok = len(latencies)
    return {
        "size": size,
        "concurrency": concurrency,
        "count": count,
        "sent": count - remaining,
        "ok": ok,
        "errors": sum(errors.values()),
        "error_reasons": dict(errors.most_common(5)),
        "truncated": remaining > 0,
        "seconds": round(seconds, 4),
        "rate": round(ok / seconds, 2) if seconds > 0 else 0.0,
        "p50_ms": round(quantile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(quantile(latencies, 0.99) * 1000, 2),
        "loadgen_cpu": round(cpu / seconds, 3) if seconds > 0 else 0.0,
    }


def runner() -> Any:
    """uvloop.run when uvloop is installed, else asyncio.run."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, default=2048, help="payload bytes")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("the load generator only talks to loopback")
    result = runner()(
        run_load(
            host=args.host,
            port=args.port,
            size=args.size,
            concurrency=args.concurrency,
            count=args.count,
            max_seconds=args.max_seconds,
        )
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
