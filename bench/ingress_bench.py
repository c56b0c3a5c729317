"""`python -m bench.ingress_bench`: `mailbus ingress` (Postmark JSON over HTTP) against
`mailbus listen` (SMTP), both storing in one private Redis, measured side by side.

Both take the same message (default 50 KB) from the same number of concurrent clients, one new
connection per message, in alternating rounds; the queue must hold exactly the messages that
were answered 200/250. Prints messages/s of each and the ratio ingress/listener per round and
their median (the figure the issue asks for: ingress at least as fast as the listener).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import tempfile
import time
from pathlib import Path

import redis

from bench.listener_bench import loadgen, mailbus_target
from bench.messages import smtp_message
from bench.procs import Server, python_command, python_env
from bench.report import median
from mailbus.redis_server import RedisServer, free_port
from mailbus.rqseam.layout import queue_key

AUTH = "bench:bench"


def ingress_server(store: RedisServer, work: Path) -> Server:
    port = free_port()
    env = python_env(MAILBUS_REDIS_URL=store.url, MAILBUS_STORE="redis",
                     MAILBUS_LOG_LEVEL="warning", MAILBUS_HOSTNAME="bench",
                     MAILBUS_HOST="127.0.0.1", MAILBUS_INGRESS_PORT=str(port),
                     MAILBUS_POSTMARK_AUTH=AUTH)  # fmt: skip
    return Server("ingress", python_command("mailbus", "ingress"), port=port, env=env,
                  log=work / "ingress.log")  # fmt: skip


def postmark_request(port: int, size: int) -> bytes:
    body = json.dumps({"RawEmail": smtp_message(size).decode(), "MessageID": "bench",
                       "OriginalRecipient": "support@example.com"}).encode()  # fmt: skip
    head = (f"POST /ingress/postmark HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Basic {base64.b64encode(AUTH.encode()).decode()}\r\n"
            "Content-Type: application/json\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")  # fmt: skip
    return head.encode() + body


async def http_load(port: int, request: bytes, concurrency: int, count: int) -> dict:
    ok, failed, remaining = 0, 0, count

    async def client() -> None:
        nonlocal ok, failed, remaining
        while remaining > 0:
            remaining -= 1
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            status = await reader.readline()
            await reader.read()  # Connection: close: the reply ends with the connection
            writer.close()
            if b" 200 " in status:
                ok += 1
            else:
                failed += 1

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    return {"ok": ok, "errors": failed, "rate": round(ok / seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingress_bench", description=__doc__)
    parser.add_argument("--size", type=int, default=51_200)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--count", type=int, default=1500, help="messages per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mailbus-ingress-bench-") as tmp:
        work = Path(tmp)
        store = RedisServer(work / "redis")
        store.start()
        client = redis.Redis.from_url(store.url)
        listener = mailbus_target("mailbus", store, work, processes=1).servers[0].start()
        ingress = ingress_server(store, work).start()
        request = postmark_request(ingress.port, args.size)
        ratios = []
        try:
            for round_ in range(1, args.rounds + 1):
                client.flushdb()
                smtp = loadgen(listener.port, args.size, args.concurrency, args.count, 120)
                queued = client.llen(queue_key("mailbus"))
                client.flushdb()
                http = asyncio.run(http_load(ingress.port, request, args.concurrency, args.count))
                queued_http = client.llen(queue_key("mailbus"))
                if (queued, queued_http) != (smtp["ok"], http["ok"]):
                    raise SystemExit(
                        f"queue {queued}/{queued_http} != answered {smtp['ok']}/{http['ok']}"
                    )
                ratios.append(http["rate"] / smtp["rate"])
                print(f"round {round_}: listen {smtp['rate']:.0f} msg/s, ingress "
                      f"{http['rate']:.0f} msg/s ({http['errors']} errors): "
                      f"ingress/listener {ratios[-1]:.2f}x", flush=True)  # fmt: skip
        finally:
            ingress.stop()
            listener.stop()
            store.stop()
    print(f"{args.size} B, {args.concurrency} clients: ingress/listener median "
          f"{median(ratios):.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
