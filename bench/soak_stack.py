"""The soak's processes under test: a private Redis, `mailbus listen` and `mailbus worker`.

The listener runs as in the listener bench (Redis store, per-IP limits lifted for loopback load)
and the workers as in the worker bench (`bench.handlers:router`, a handler that does nothing).
Raw messages expire after RAW_TTL instead of seven days: an hour of 100 KB messages would
otherwise keep tens of GB in Redis. Samples of the listener's RSS and FDs, queue depth and Redis
memory are printed and written as `soak-sample` JSON lines.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import redis
from rq.registry import (
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.serializers import JSONSerializer

from bench.listener_bench import mailbus_target
from bench.procs import Server, python_command, tree_memory
from bench.report import Results
from bench.worker_bench import worker_env
from mailbus.queue import message_queue
from mailbus.redis_server import RedisServer
from mailbus.rqseam.layout import taken
from mailbus.settings import Settings

MIB = 1 << 20
RAW_TTL = 600  # seconds; far longer than a healthy queue wait, far shorter than the default week


class Stack:
    """Start with `with Stack(...) as stack:`; everything started is stopped on the way out."""

    def __init__(self, work: Path, results: Results, *, big_size: int, workers: int) -> None:
        self.results = results
        self.samples: list[dict[str, Any]] = []
        self.idle_fds: list[int] = []
        self.redis = RedisServer(work / "redis", appendonly=False)
        ttl = {"MAILBUS_REDIS_RAW_TTL": str(RAW_TTL)}
        self.listener = mailbus_target("listener", self.redis, work, processes=1, **ttl).servers[0]
        self.settings = Settings.from_env(self.listener.env, env_file=None, role="listen")
        if self.settings.max_message_size < big_size + MIB:  # 30 MB is above the default
            self.listener.env["MAILBUS_MAX_MESSAGE_SIZE"] = str(big_size + MIB)
            self.settings = Settings.from_env(self.listener.env, env_file=None, role="listen")
        command = python_command("mailbus", "worker", "--processes", str(workers))
        env = {**worker_env(self.redis.url), **ttl}
        self.workers = Server("workers", command, port=0, env=env, log=work / "workers.log")
        self.client: redis.Redis | None = None
        self._last = (0.0, 0)  # (elapsed, accepted) at the previous sample

    @property
    def port(self) -> int:
        return self.listener.port

    def __enter__(self) -> Stack:
        try:
            self.redis.start()
            self.client = redis.Redis.from_url(self.redis.url)
            self.queue = message_queue(self.client, self.settings)
            self.listener.start()
            self.workers.spawn()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.workers.stop()
        self.listener.stop()
        if self.client is not None:
            self.client.close()
        self.redis.stop()

    def sample(self, elapsed: float, accepted: int) -> None:
        """One progress line; raises RuntimeError (with the log's tail) if a process died."""
        self.listener.check_alive()
        self.workers.check_alive()
        assert self.listener.process is not None and self.client is not None
        rss, fds = tree_memory(self.listener.process.pid)
        rate = (accepted - self._last[1]) / max(1e-9, elapsed - self._last[0])
        self._last = (elapsed, accepted)
        found = {
            "elapsed": round(elapsed, 1),
            "accepted": accepted,
            "rate": round(rate, 1),
            "rss": rss,
            "fds": fds,
            "queue": self.queue.count,
            "redis": int(self.client.info("memory")["used_memory"]),
        }
        self.samples.append(found)
        self.results.write("soak-sample", **found)
        print(
            f"  [{found['elapsed']:>7.0f} s] accepted {accepted:>8} ({rate:6.1f}/s)"
            f"  rss {rss / MIB:6.1f} MiB  fds {fds:>4}  queue {found['queue']:>6}"
            f"  redis {found['redis'] / MIB:7.1f} MiB",
            flush=True,
        )

    def sample_idle_fds(self, settle: float = 2.0) -> None:
        """The listener's FDs with no client connected (after `settle` s for closes to land)."""
        time.sleep(settle)
        assert self.listener.process is not None
        self.idle_fds.append(tree_memory(self.listener.process.pid)[1])

    def drain(self, timeout: float) -> dict[str, int]:
        """Wait (up to `timeout` s) until no job waits, runs or awaits a retry; then count the
        finished and dead-lettered ones. Registries are read without RQ's cleanup."""
        deadline = time.monotonic() + timeout
        while (left := self._in_flight()) and time.monotonic() < deadline:
            time.sleep(0.5)
        registries = {"finished": FinishedJobRegistry, "failed": FailedJobRegistry}
        counts = {
            name: kind(queue=self.queue, serializer=JSONSerializer).get_job_count(cleanup=False)
            for name, kind in registries.items()
        }
        return {**counts, "left": left}

    def _in_flight(self) -> int:
        assert self.client is not None
        registries = (StartedJobRegistry, ScheduledJobRegistry)
        held = sum(
            kind(queue=self.queue, serializer=JSONSerializer).get_job_count(cleanup=False)
            for kind in registries
        )
        return self.queue.count + taken(self.client, self.queue) + held
