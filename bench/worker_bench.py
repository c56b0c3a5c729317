"""Worker side: `mailbus worker --burst` draining stored, queued messages vs a plain parse loop.

For each message set (N copies of a ~50 KB multipart with unique attachments; a corpus-shaped mix
sampled from ../shared/corpus) and each process count P, every repetition flushes a private
Redis, stores the raw messages with trace headers and enqueues them with
`mailbus.queue.enqueue_message` in one MULTI/EXEC per batch (the records the listener writes); then
it times the drain from process start to exit. The baseline is `bench.plainloop` in P processes
over the same stored keys, also timed from start to exit. After each drain every job must be
finished (multipart) or finished-or-failed (corpus), and the queue empty, else BenchError.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import redis
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.serializers import JSONSerializer

from bench.corpus import corpus_mix
from bench.messages import multipart_copies
from bench.procs import python_command, python_env
from bench.report import BenchError, Results, fmt_ratio, median, ratio, table
from mailbus.envelope import Envelope
from mailbus.ids import new_message_id
from mailbus.queue import enqueue_message, message_queue
from mailbus.redis_server import RedisServer
from mailbus.rqseam.layout import parse_time, run_times
from mailbus.settings import Settings
from mailbus.stores import RedisStore, raw_key
from mailbus.trace import delivery_digest, trace_headers

BATCH = 50


HANDLERS = {"mailbus": "bench.handlers:router", "mailbus-routes": "bench.routes:router"}


def worker_env(url: str, handlers: str = HANDLERS["mailbus"], **extra: str) -> dict[str, str]:
    """Auth off unless `extra` turns it on: the plain loop does no DNS either (bench.auth_bench)."""
    return python_env(
        **{
            "MAILBUS_REDIS_URL": url,
            "MAILBUS_STORE": "redis",
            "MAILBUS_HANDLERS": handlers,
            "MAILBUS_LOG_LEVEL": "warning",
            "MAILBUS_AUTH": "off",
            **extra,
        }
    )


def populate(url: str, messages: list[bytes], count: int) -> Settings:
    """Store `count` messages (cycling through `messages`) and enqueue a job for each."""
    settings = Settings.from_env(worker_env(url), env_file=None, role="worker")
    client = redis.Redis.from_url(url)
    client.flushall()
    store = RedisStore(client, raw_ttl=settings.raw_ttl)
    queue = message_queue(client, settings)
    for first in range(0, count, BATCH):
        with client.pipeline(transaction=True) as pipe:
            pipe.multi()
            for i in range(first, min(count, first + BATCH)):
                received = messages[i % len(messages)]
                # A recipient per copy gives each copy its own delivery digest (no dedupe).
                envelope = Envelope(
                    mail_from="sender@example.org",
                    rcpt_tos=(f"bench+{i}@example.com",),
                    helo="loadgen.example.org",
                    peer="127.0.0.1:40000",
                    received_at=time.time(),
                )
                message_id = new_message_id()
                key = raw_key(message_id)
                data = trace_headers(envelope, message_id, "bench") + received
                store.put_raw(key, data, pipeline=pipe)
                enqueue_message(queue, settings, message_id=message_id, raw_key=key,
                                envelope=envelope, digest=delivery_digest(received, envelope),
                                pipeline=pipe)  # fmt: skip
            pipe.execute()
    if queue.count != count:
        raise BenchError(f"populated {queue.count} jobs, wanted {count}")
    client.close()
    return settings


def job_span(client: redis.Redis, job_ids: list[str]) -> float:
    """Seconds from the first job's start to the last job's end (leaves out process start-up)."""
    stamps = run_times(client, job_ids)
    starts = [parse_time(s).timestamp() for s, _ in stamps if s]
    ends = [parse_time(e).timestamp() for _, e in stamps if e]
    return max(ends) - min(starts) if starts and ends else 0.0


def drain_workers(
    url: str,
    processes: int,
    count: int,
    log: Path,
    *,
    strict: bool,
    handlers: str = HANDLERS["mailbus"],
    **env: str,
) -> dict:
    command = python_command("mailbus", "worker", "--burst", "--processes", str(processes))
    start, limit = time.perf_counter(), max(120.0, count * 0.5)
    with log.open("ab") as out:
        done = subprocess.run(command, env=worker_env(url, handlers, **env), stdout=out,
                              stderr=subprocess.STDOUT, timeout=limit)  # fmt: skip
    seconds = time.perf_counter() - start
    settings = Settings.from_env(worker_env(url), env_file=None, role="worker")
    client = redis.Redis.from_url(url)
    try:
        queue = message_queue(client, settings)
        left = queue.count
        finished = FinishedJobRegistry(queue=queue, serializer=JSONSerializer).count
        failed = FailedJobRegistry(queue=queue, serializer=JSONSerializer).count
        span = job_span(client, FinishedJobRegistry(queue=queue).get_job_ids())
    finally:
        client.close()
    result = {"seconds": round(seconds, 3), "rc": done.returncode, "finished": finished,
              "failed": failed, "left": left, "rate": round(count / seconds, 2),
              "busy_rate": round(finished / span, 2) if span else 0.0}  # fmt: skip
    if left or finished + failed != count or (strict and (failed or finished != count)):
        raise BenchError(f"worker drain of {count} messages with P={processes}: {result}")
    return result


def drain_plain(url: str, processes: int, count: int) -> dict:
    start = time.perf_counter()
    children = [
        subprocess.Popen(
            python_command(
                "bench.plainloop", "--redis-url", url, "--shard", str(i), "--shards", str(processes)
            ),
            env=python_env(),
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(processes)
    ]
    outputs = []
    try:
        for child in children:
            out, _ = child.communicate(timeout=max(120.0, count * 0.5))
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    seconds = time.perf_counter() - start
    handled = sum(o["messages"] for o in outputs)
    if handled != count:
        raise BenchError(f"plain loop read {handled} of {count} messages")
    errors = sum(o["errors"] for o in outputs)
    busy = max(o["seconds"] for o in outputs)
    return {"seconds": round(seconds, 3), "errors": errors, "rate": round(count / seconds, 2),
            "busy_rate": round(count / busy, 2) if busy else 0.0}  # fmt: skip


def run_worker_bench(
    *,
    messages: int,
    reps: int,
    processes: list[int],
    results: Results,
    work: Path,
    corpus: Path | None = None,
    routes: bool = False,
) -> dict[str, Any]:
    """With `routes`, also drain with bench.routes' 50 routes (variant mailbus-routes)."""
    sets: dict[str, list[bytes]] = {"multipart 50 KB": multipart_copies(messages)}
    skipped: list[str] = []
    mix = corpus_mix(messages) if corpus is None else corpus_mix(messages, corpus)
    if isinstance(mix, str):
        skipped.append(mix)
        print(mix)
    else:
        sets[f"corpus mix ({len(mix)} distinct)"] = mix
    runs: dict[tuple[str, str, int], list[dict]] = {}
    store = RedisServer(work / "redis-workers", appendonly=False).start()
    try:
        for rep in range(reps):
            for name, bodies in sets.items():
                strict = name.startswith("multipart")
                for p in processes:
                    order = ["mailbus", "plain"] if (rep + p) % 2 == 0 else ["plain", "mailbus"]
                    if routes:
                        order.insert(rep % 3, "mailbus-routes")
                    for variant in order:
                        populate(store.url, bodies, messages)
                        if variant in HANDLERS:
                            log = work / "workers.log"
                            result = drain_workers(store.url, p, messages, log, strict=strict,
                                                   handlers=HANDLERS[variant])  # fmt: skip
                        else:
                            result = drain_plain(store.url, p, messages)
                        runs.setdefault((name, variant, p), []).append(result)
                        results.write("workers", set=name, variant=variant, processes=p,
                                      rep=rep, messages=messages, **result)  # fmt: skip
                        print(f"  rep {rep + 1}/{reps} {name:<28} P={p} {variant:<8}"
                              f" {result['rate']:>8.1f} msg/s", flush=True)  # fmt: skip
    finally:
        store.stop()
    return _print_table(sets, processes, runs, skipped, results)


def _print_table(sets, processes, runs, skipped, results) -> dict[str, Any]:
    summary: dict[str, Any] = {"skipped": skipped, "ratios": {}}
    rows = []
    for name in sets:
        for p in processes:
            worker = median(r["rate"] for r in runs.get((name, "mailbus", p), []))
            plain = median(r["rate"] for r in runs.get((name, "plain", p), []))
            failed = max((r["failed"] for r in runs.get((name, "mailbus", p), [])), default=0)
            busy_w = median(r["busy_rate"] for r in runs.get((name, "mailbus", p), []))
            busy_p = median(r["busy_rate"] for r in runs.get((name, "plain", p), []))
            value, busy = ratio(worker, plain), ratio(busy_w, busy_p)
            summary["ratios"][f"worker/plain {name} P={p}"] = value
            summary["ratios"][f"worker/plain busy {name} P={p}"] = busy
            routed = [r["rate"] for r in runs.get((name, "mailbus-routes", p), [])]
            if routed:
                summary["ratios"][f"50 routes/today {name} P={p}"] = ratio(median(routed), worker)
            rows.append([f"{name} P={p}", f"{worker:.1f}", f"{plain:.1f}", fmt_ratio(value),
                         f"{busy_w:.1f}", f"{busy_p:.1f}", fmt_ratio(busy),
                         str(failed)])  # fmt: skip
    print("\nWorkers: messages/s (median; target worker/plain >= 0.7x). 'wall' is process start")
    print("to exit; 'busy' leaves out start-up (worker: first job start to last job end).")
    headers = ["set", "worker wall", "plain wall", "ratio", "worker busy", "plain busy",
               "ratio", "dead-lettered"]  # fmt: skip
    print(table(headers, rows))
    results.write("workers-summary", **summary)
    return summary
