"""Store + enqueue one message, in a thread, shielded from the session, bounded in time.

With the Redis store the raw bytes, the RQ job and the status events commit in one MULTI/EXEC,
so neither exists without the other. With S3 or a directory the raw object is written first,
then the job and status in one MULTI/EXEC; if that fails the object is deleted best-effort (and
`mailbus reconcile` covers a crash in between). The blocking work runs in a thread started as its
own task: a client that hangs up, or a session timer, cancels only the *wait*, never the write
half-way. At most MAILBUS_MAX_CONCURRENT_PERSISTS writes run at once, so a stalled Redis or S3
cannot pile up threads; a slot is freed when its thread ends, not when its client stops waiting.
Waiting for a slot and for the write share one MAILBUS_PERSIST_TIMEOUT; past it the client gets
451, and a store write that finishes later is deleted instead of enqueued. Any failure is a 451
for the client and one log line.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from mailbus.envelope import Envelope
from mailbus.errors import StoreError
from mailbus.logs import log_event
from mailbus.queue import enqueue_message, message_queue
from mailbus.settings import Settings
from mailbus.status import record
from mailbus.stores import RedisStore, Store, raw_key

log = logging.getLogger("mailbus.listener")


class WaitFailed(StoreError):
    """MAILBUS_REDIS_WAIT was not satisfied: too few replicas or no AOF fsync in time."""


class TooLate(StoreError):
    """The raw object was stored after the client had its 451: it is removed, never enqueued."""


@dataclass(frozen=True)
class Message:
    """One accepted DATA phase, ready to be made durable."""

    message_id: str
    data: bytes  # trace headers + bytes as received (a bytearray: every store takes one)
    envelope: Envelope
    digest: str
    size: int


class Persister:
    """Makes messages durable; one per listener process, shared by all sessions."""

    def __init__(self, settings: Settings, store: Store, connection: redis.Redis) -> None:
        self.settings = settings
        self.store = store
        self.connection = connection
        self._local = threading.local()
        self.inflight: set[asyncio.Future[None]] = set()
        self.slots = asyncio.Semaphore(settings.max_concurrent_persists)

    async def persist(self, message: Message, *, on_late: Callable[[str], None]) -> None:
        """Return once `message` is durable; raise on failure or after the persist timeout.

        `on_late(outcome)` is called if the write finishes after our caller stopped waiting."""
        timeout = self.settings.persist_timeout
        deadline = time.monotonic() + timeout
        await asyncio.wait_for(self.slots.acquire(), timeout)  # TimeoutError: all slots stuck
        task = asyncio.ensure_future(asyncio.to_thread(self._write, message, deadline))
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)
        task.add_done_callback(lambda _: self.slots.release())
        try:
            await asyncio.wait_for(asyncio.shield(task), deadline - time.monotonic())
        except BaseException:
            if not task.done():
                task.add_done_callback(lambda t: on_late(_outcome(t)))
            raise

    def _write(self, message: Message, deadline: float) -> None:
        client = self._client()
        key = raw_key(message.message_id)
        env = message.envelope
        events = (
            {"event": "received", "peer": env.peer, "size": message.size, "tls": env.tls},
            {"event": "stored", "key": key, "store": self.store.url},
            {"event": "queued", "queue": self.settings.queue},
        )
        atomic = isinstance(self.store, RedisStore)
        if not atomic:
            self.store.put_raw(key, message.data)
            if time.monotonic() > deadline:
                self._forget(key)
                raise TooLate(f"stored {key} after the persist timeout")
        try:
            with client.pipeline(transaction=True) as pipe:
                pipe.multi()
                if atomic:
                    self.store.put_raw(key, message.data, pipeline=pipe)
                enqueue_message(
                    message_queue(client, self.settings),
                    self.settings,
                    message_id=message.message_id,
                    raw_key=key,
                    envelope=env,
                    digest=message.digest,
                    pipeline=pipe,
                )
                record(pipe, message.message_id, self.settings.dedupe_window, *events)
                pipe.execute()
        except BaseException:
            if not atomic:
                self._forget(key)
            raise
        if self.settings.redis_wait:
            self._wait(client, deadline)

    def _forget(self, key: str) -> None:
        try:
            self.store.delete(key)
        except Exception as exc:  # best effort; reconcile finds what is left
            log_event(log, "message.orphan_raw", level=logging.WARNING, key=key, error=repr(exc))

    def _client(self) -> redis.Redis:
        """With MAILBUS_REDIS_WAIT, a per-thread one-connection client: WAIT only counts the
        writes made on its own connection."""
        if not self.settings.redis_wait:
            return self.connection
        client = getattr(self._local, "client", None)
        if client is None:
            pool = self.connection.connection_pool
            own = redis.ConnectionPool(
                connection_class=pool.connection_class, max_connections=1, **pool.connection_kwargs
            )
            client = self._local.client = redis.Redis(connection_pool=own)
        return client

    def _wait(self, client: redis.Redis, deadline: float) -> None:
        spec = self.settings.redis_wait
        millis = max(1, int((deadline - time.monotonic()) * 1000))
        if spec.startswith("aof"):
            replicas = int(spec.removeprefix("aof").removeprefix("+") or 0)
            local, acked = client.execute_command("WAITAOF", 1, replicas, millis)
            if int(local) < 1 or int(acked) < replicas:
                raise WaitFailed(f"WAITAOF: local={local} replicas={acked}/{replicas}")
        else:
            wanted = int(spec)
            acked = client.execute_command("WAIT", wanted, millis)
            if int(acked) < wanted:
                raise WaitFailed(f"WAIT: {acked}/{wanted} replicas acknowledged")


def _outcome(task: asyncio.Future[Any]) -> str:
    if task.cancelled():
        return "cancelled"
    error = task.exception()
    return "stored" if error is None else f"failed: {error!r}"
