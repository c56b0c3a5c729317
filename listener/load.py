"""Overload guards for one listener process: event-loop lag and queue backlog (B13, B14 in
docs/threat-model.md).

`LoopLag` is a task that sleeps a tenth of a second and measures how late it wakes; above
MAILBUS_MAX_LOOP_LAG new connections are refused with 421 4.3.2 (sessions already open go on)
until the lag has stayed below the threshold for a second. `Backlog` polls the RQ queue length
and Redis's memory use from its own thread (never on the loop); above
MAILBUS_QUEUE_HIGH_WATERMARK jobs, or above MAILBUS_REDIS_MEMORY_HIGH_WATERMARK of maxmemory,
MAIL gets 452 4.3.1 until both are below 90 % of their mark (a Redis at maxmemory would fail
writes mid-DATA). A Redis it cannot read counts as no backlog: persist answers 451 for a Redis
that is really down. Each guard logs once on entering and leaving.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import redis

from mailbus.logs import log_event
from mailbus.rqseam.layout import count_queued
from mailbus.settings import Settings

log = logging.getLogger("mailbus.listener")
LAG_SAMPLE = 0.1  # seconds between loop-lag samples
LAG_RECOVERY = 1.0  # seconds the lag must stay below the threshold before we accept again
BACKLOG_POLL = 1.0  # seconds between LLEN polls
BACKLOG_RESUME = 0.9  # fraction of the high watermark below which MAIL is accepted again


class LoopLag:
    """Whether this process's event loop is too late to take new connections."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.busy = False
        self.lag = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.threshold > 0:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        calm_since = loop.time()
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_SAMPLE)
            now = loop.time()
            self.lag = max(0.0, now - before - LAG_SAMPLE)
            if self.lag > self.threshold:
                calm_since = now
                if not self.busy:
                    self.busy = True
                    log_event(log, "listener.loop_lagging", level=logging.CRITICAL, lag=self.lag)
            elif self.busy and now - calm_since >= LAG_RECOVERY:
                self.busy = False
                log_event(log, "listener.loop_recovered", level=logging.WARNING, lag=self.lag)


class Backlog:
    """Whether the RQ queue is so long that we should stop taking mail for now."""

    def __init__(self, settings: Settings, connection: redis.Redis) -> None:
        self.high = settings.queue_high_watermark
        self.low = int(self.high * BACKLOG_RESUME)
        self.memory_high = settings.redis_memory_high_watermark
        self.queue = settings.queue
        self.connection = connection
        self.full = False
        self._stop = threading.Event()
        self._unreadable = False

    def start(self) -> None:
        if self.high > 0 or self.memory_high > 0:
            threading.Thread(target=self._poll, name="backlog", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _poll(self) -> None:
        while True:
            self._check()
            if self._stop.wait(BACKLOG_POLL):
                return

    def _check(self) -> None:
        """One poll: read the queue length and memory use, move between full and accepting."""
        try:
            length, memory = self._read()
        except redis.RedisError as exc:
            if not self._unreadable:
                log_event(log, "listener.backlog_unknown", level=logging.WARNING, error=repr(exc))
            self._unreadable = True
            self._set(False, None, None)
            return
        self._unreadable = False
        queue_full = self.high > 0 and length >= self.high
        memory_full = self.memory_high > 0 and memory >= self.memory_high
        queue_low = not self.high or length < self.low
        memory_low = not self.memory_high or memory < self.memory_high * BACKLOG_RESUME
        if queue_full or memory_full:
            self._set(True, length, memory)
        elif queue_low and memory_low:
            self._set(False, length, memory)

    def _read(self) -> tuple[int, float]:
        """Queue length, and the share of maxmemory in use (0.0 without a maxmemory)."""
        with self.connection.pipeline(transaction=False) as pipe:
            count_queued(pipe, self.queue)
            pipe.info("memory")
            length, info = pipe.execute()
        limit = int(info.get("maxmemory", 0))
        return int(length), (int(info.get("used_memory", 0)) / limit if limit else 0.0)

    def _set(self, full: bool, length: int | None, memory: float | None) -> None:
        if full == self.full:
            return
        self.full = full
        event = "listener.backlog_full" if full else "listener.backlog_drained"
        log_event(log, event, level=logging.ERROR if full else logging.WARNING, length=length,
                  memory=None if memory is None else round(memory, 3))  # fmt: skip
