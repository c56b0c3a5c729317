"""Worker throughput with MAILBUS_AUTH on vs off on the corpus mix, DNS from a local server.

The drains of bench.worker_bench (populate, `mailbus worker --burst`), once with the verdicts off
and once on, in alternating order, against an authoritative DNS server on loopback (the tests'
dnslib server) that publishes SPF, DMARC and PTR for the bench envelope; every other name a
message makes the checks ask about is NXDOMAIN, as for most real mail. "Cache warm", as in a
long-running worker: the cache is per process and a burst drain starts new ones, so with P
processes each drain is P warm-up rounds then a timed one, all of the same N messages (each
distinct message `REPEATS` times per round; jobs go to the processes in batches, so it takes P
rounds for every process to have seen nearly every sender), and the rate is timed over the last
N jobs to start. The whole drain, start-up and cold cache included, is reported beside it.
Target: on/off >= 0.8x, warm. The added cost per message is also measured in this process:
`authenticate()` over the mix with a warm cache, p50 and p99 in milliseconds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import redis
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from bench.corpus import DEFAULT, corpus_mix
from bench.report import Results, fmt_ratio, median, ratio, table
from bench.worker_bench import drain_workers, populate, worker_env
from mailbus.auth import authenticate
from mailbus.queue import message_queue
from mailbus.redis_server import RedisServer
from mailbus.rqseam.layout import parse_time, run_times
from mailbus.settings import Settings
from tests.auth.dnsserver import TestDnsServer, Zones

TARGET = 0.8
REPEATS = 4
WARM_PASSES = 3


def bench_zones() -> Zones:
    """What the bench envelope (sender@example.org from 127.0.0.1) needs to pass SPF and iprev."""
    zones = Zones()
    zones.txt("example.org", "v=spf1 ip4:127.0.0.1 -all")
    zones.txt("_dmarc.example.org", "v=DMARC1; p=none")
    zones.add("1.0.0.127.in-addr.arpa", "PTR", "loadgen.example.org")
    zones.add("loadgen.example.org", "A", "127.0.0.1")
    return zones


def added_latency(bodies: list[bytes], server: str) -> dict[str, float]:
    """p50/p99 over the messages of what `authenticate()` adds to each, cache warm: the worker's
    path (one shared resolver and cache per process), a first pass to warm it, then each
    message's median of three passes, so another tenant's burst on a shared machine is not
    taken for the cost of a message."""
    timings: list[list[float]] = [[] for _ in bodies]
    for pass_ in range(1 + WARM_PASSES):
        for body, taken in zip(bodies, timings, strict=True):
            started = time.perf_counter()
            authenticate(body, client_ip="127.0.0.1", helo="loadgen.example.org",
                         mail_from="sender@example.org", dns_servers=[server],
                         authserv_id="bench")  # fmt: skip
            if pass_:
                taken.append((time.perf_counter() - started) * 1000)
    per_message = sorted(median(taken) for taken in timings)
    return {
        "p50_ms": round(per_message[len(per_message) // 2], 2),
        "p99_ms": round(per_message[min(len(per_message) - 1, int(len(per_message) * 0.99))], 2),
    }


def run_auth_bench(
    *,
    messages: int,
    reps: int,
    processes: list[int],
    results: Results,
    work: Path,
    corpus: Path = DEFAULT,
) -> dict[str, Any]:
    mix = corpus_mix(max(1, messages // REPEATS), corpus)
    if isinstance(mix, str):
        print(mix)
        return {"skipped": [mix], "ratios": {}}
    dns = TestDnsServer(bench_zones())
    dns.start()
    store = RedisServer(work / "redis-auth", appendonly=False).start()
    runs: dict[tuple[str, int], list[dict]] = {}
    try:
        latency = added_latency(mix, dns.address)
        results.write("auth-latency", **latency)
        for rep in range(reps):
            for p in processes:
                order = ["off", "on"] if (rep + p) % 2 == 0 else ["on", "off"]
                for variant in order:
                    total = (p + 1) * messages  # P warm-up rounds, then the timed one
                    populate(store.url, mix, total)
                    env = {"MAILBUS_AUTH": variant, "MAILBUS_DNS_SERVERS": dns.address}
                    result = drain_workers(store.url, p, total, work / "auth-workers.log",
                                           strict=False, **env)  # fmt: skip
                    result["warm_rate"] = warm_rate(store.url, messages)
                    runs.setdefault((variant, p), []).append(result)
                    results.write("auth", variant=variant, processes=p, rep=rep, **result)
                    print(f"  rep {rep + 1}/{reps} auth {variant:<3} P={p}"
                          f" {result['warm_rate']:>8.1f} msg/s warm,"
                          f" {result['rate']:>8.1f} whole drain", flush=True)  # fmt: skip
    finally:
        store.stop()
        dns.stop()
    return _print_table(processes, runs, latency, len(mix), results)


def warm_rate(url: str, count: int) -> float:
    """Messages/s over the last `count` jobs to start (the timed round): first start to last end."""
    settings = Settings.from_env(worker_env(url), env_file=None, role="worker")
    client = redis.Redis.from_url(url)
    try:
        queue = message_queue(client, settings)
        registries = (FinishedJobRegistry, FailedJobRegistry)
        ids = [i for kind in registries for i in kind(queue=queue).get_job_ids()]
        stamps = sorted(
            (parse_time(s).timestamp(), parse_time(e).timestamp())
            for s, e in run_times(client, ids)
            if s and e
        )
    finally:
        client.close()
    timed = stamps[-count:]
    span = max(end for _, end in timed) - timed[0][0] if timed else 0.0
    return round(len(timed) / span, 2) if span > 0 else 0.0


def _print_table(processes, runs, latency, distinct, results) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    summary: dict[str, Any] = {"skipped": [], "ratios": {}, "latency": latency}
    rows = []
    for p in processes:
        on, off = (median(r["warm_rate"] for r in runs.get((v, p), [])) for v in ("on", "off"))
        whole_on, whole_off = (median(r["rate"] for r in runs.get((v, p), []))
                               for v in ("on", "off"))  # fmt: skip
        summary["ratios"][f"auth on/off warm corpus P={p}"] = ratio(on, off)
        summary["ratios"][f"auth on/off whole drain corpus P={p}"] = ratio(whole_on, whole_off)
        rows.append([f"corpus mix ({distinct} distinct) P={p}", f"{on:.1f}", f"{off:.1f}",
                     fmt_ratio(ratio(on, off)), fmt_ratio(ratio(whole_on, whole_off))])  # fmt: skip
    print(
        f"\nAuth: messages/s with verdicts on vs off, cache warm (median; target on/off >= "
        f"{TARGET}x); whole drain = both rounds from process start, cold cache included;"
    )
    print(f"added per message, warm cache: p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms")
    print(table(["set", "on", "off", "ratio warm", "ratio whole drain"], rows))
    results.write("auth-summary", **summary)
    return summary
