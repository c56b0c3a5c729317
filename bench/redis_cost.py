"""What one message costs Redis, counted by Redis itself: commands, bytes, memory and CPU time.

`python -m bench.redis_cost` runs the real deployables on a private redis-server (`--appendonly
no`, so the figures are Redis's own work, not the disk's): `mailbus listen` takes N messages over
SMTP from C concurrent clients (the listener groups concurrent messages into one transaction, as
in production), then `mailbus worker --burst` processes them. Around each phase it resets and
reads INFO commandstats (calls made by Lua scripts counted too), stats (network bytes), cpu
and memory. The background polls (the listener's backlog guard, the queue-depth lines) are switched
off so that what is counted is per message; docs/capacity.md gives their own small cost.

A Redis primary runs commands on one thread, so the CPU it spends per message (listener + worker
path) bounds what one primary sustains: 1 / (seconds of Redis CPU per message), at a saturated
core. tests/bench/test_redis_cost.py runs a small count and pins the command counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis
from rq.registry import FinishedJobRegistry

from bench.loadgen import run_load
from bench.procs import Server, python_command, python_env
from mailbus import heartbeat
from mailbus.redis_server import RedisServer, free_port
from mailbus.rqseam.layout import queue_key

QUIET = {  # per-message figures only: no background polls, no per-line logging
    "MAILBUS_QUEUE_HIGH_WATERMARK": "0",
    "MAILBUS_REDIS_MEMORY_HIGH_WATERMARK": "0",
    "MAILBUS_EMF_INTERVAL": "0",
    "MAILBUS_LOG_LEVEL": "warning",
}


def _snapshot(client: redis.Redis) -> dict[str, Any]:
    info = client.info("everything")
    commands = {
        name.removeprefix("cmdstat_"): int(stat["calls"])
        for name, stat in client.info("commandstats").items()
    }
    return {
        "commands": commands,
        "in": int(info["total_net_input_bytes"]),
        "out": int(info["total_net_output_bytes"]),
        "cpu": float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
        "memory": int(info["used_memory"]),
    }


def _per_message(before: dict[str, Any], after: dict[str, Any], count: int) -> dict[str, Any]:
    """The phase's deltas divided by `count`; our own INFO and CONFIG calls are left out."""
    calls: dict[str, float] = {}
    for name, n in after["commands"].items():
        moved = n - before["commands"].get(name, 0)
        if moved and name not in ("info", "config|resetstat", "config"):
            calls[name] = round(moved / count, 3)
    return {
        "calls": dict(sorted(calls.items(), key=lambda item: -item[1])),
        "calls_total": round(sum(calls.values()), 3),
        "cpu_usec": round((after["cpu"] - before["cpu"]) * 1e6 / count, 2),
        "bytes_in": round((after["in"] - before["in"]) / count),
        "bytes_out": round((after["out"] - before["out"]) / count),
        "memory": round((after["memory"] - before["memory"]) / count),
    }


def _after_first_heartbeat(client: redis.Redis, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not client.zcard(heartbeat.ALIVE):
        if time.monotonic() > deadline:
            raise RuntimeError("the listener did not beat (listener.heartbeat)")
        time.sleep(0.02)


def measure(
    server: RedisServer, *, size: int, count: int, concurrency: int, log: Path, store: str = "redis"
) -> dict[str, Any]:
    """Both paths for `count` messages of `size` payload bytes, per message. With a `file://`
    store the raw bytes stay out of Redis, as with S3 (the recommended production setting)."""
    client = redis.Redis.from_url(server.url)
    client.flushall()
    port = free_port()
    env = python_env(
        MAILBUS_REDIS_URL=server.url, MAILBUS_STORE=store, MAILBUS_DOMAINS="example.com",
        MAILBUS_HOST="127.0.0.1", MAILBUS_PORT=str(port), MAILBUS_HOSTNAME="bench",
        MAILBUS_HANDLERS="bench.handlers:router", MAILBUS_MAX_CONNECTIONS_PER_IP="1000",
        MAILBUS_LIMIT_EXEMPT="127.0.0.0/8", **QUIET,
    )  # fmt: skip
    listener = Server("mailbus", python_command("mailbus", "listen"), port=port, env=env, log=log)
    listener.start()
    try:
        _after_first_heartbeat(client)  # a beat is per process and 15 s, not per message
        client.config_resetstat()
        start = _snapshot(client)
        load = asyncio.run(run_load(port=port, size=size, concurrency=concurrency, count=count))
        queued = _snapshot(client)
    finally:
        listener.stop()
    accepted = int(load["ok"])
    if accepted != count or client.llen(queue_key("mailbus")) != count:
        raise RuntimeError(f"listener took {accepted} of {count}: {load['error_reasons']}")
    before_worker = _snapshot(client)
    with log.open("ab") as out:
        subprocess.run(python_command("mailbus", "worker", "--burst"), env=env, stdout=out,
                       stderr=subprocess.STDOUT, timeout=max(120.0, count), check=True)  # fmt: skip
    done = _snapshot(client)
    if (
        client.llen(queue_key("mailbus"))
        or FinishedJobRegistry("mailbus", connection=client).count != count
    ):
        raise RuntimeError("the worker did not finish every message")
    client.close()
    return {
        "size": size,
        "store": store.split(":")[0],
        "count": count,
        "concurrency": concurrency,
        "listener": _per_message(start, queued, count),
        "worker": _per_message(before_worker, done, count),
        "retained_memory": round((done["memory"] - start["memory"]) / count),
    }


def sustained_rate(result: dict[str, Any]) -> float:
    """Messages/s one Redis core sustains for both paths: one over the CPU seconds per message."""
    usec = result["listener"]["cpu_usec"] + result["worker"]["cpu_usec"]
    return round(1e6 / usec) if usec else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_cost", description=__doc__)
    parser.add_argument("--sizes", default="2048,51200", help="payload bytes, comma separated")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument(
        "--store",
        choices=["redis", "file"],
        default="redis",
        help="file: raw bytes in a directory (like S3), only the queue in Redis",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mailbus-redis-cost-") as scratch:
        server = RedisServer(Path(scratch) / "redis", appendonly=False).start()
        try:
            for size in (int(s) for s in args.sizes.split(",")):
                store = f"file://{scratch}/store-{size}" if args.store == "file" else "redis"
                result = measure(
                    server,
                    size=size,
                    count=args.count,
                    concurrency=args.concurrency,
                    log=Path(scratch) / "log",
                    store=store,
                )
                result["sustained_rate"] = sustained_rate(result)
                print(json.dumps(result))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
