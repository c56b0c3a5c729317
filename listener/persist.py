"""Store + enqueue messages, shielded from the sessions, bounded in time, committed in groups.

With the Redis store the raw bytes, the RQ job and the status events commit in one MULTI/EXEC,
so neither exists without the other. With S3 or a directory the raw object is written first (in
a thread of its own, so slow PUTs overlap), then the job and status in a MULTI/EXEC; if that
fails the object is deleted best-effort (and `mailbus reconcile` covers a crash in between).

All Redis writes go through one writer thread that commits whatever messages are waiting in one
transaction (group commit, as databases do for their logs): under load that is one round trip,
one thread wake-up and one MAILBUS_REDIS_WAIT for many messages, and it never changes what any
single message gets, since a transaction commits all or nothing.

A client that hangs up, or a session timer, cancels only the *wait*, never a write half-way. At
most MAILBUS_MAX_CONCURRENT_PERSISTS messages are in flight, so a stalled Redis or S3 cannot
pile them up. Waiting for a slot and for the write share one MAILBUS_PERSIST_TIMEOUT; past it
the client gets 451, and a message whose client already has its 451 is dropped before it is
written (its raw object deleted) instead of enqueued. Any failure is a 451 and one log line.
A message stored although its client got no 250 (the write landed late, the client hung up, or
MAILBUS_REDIS_WAIT failed) is noted for the workers (`mailbus.queue.resend_key`): the sender
will send it again, and that copy is then suppressed even without a Message-ID.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from mailbus.envelope import Envelope
from mailbus.errors import StoreError
from mailbus.logs import log_event
from mailbus.queue import JobWriter, MessageJob, resend_key
from mailbus.settings import Settings
from mailbus.status import encode, record_many
from mailbus.stores import RedisStore, Store, raw_key

log = logging.getLogger("mailbus.listener")
MAX_GROUP = 64  # messages per transaction: bounds one EXEC's size and latency


class WaitFailed(StoreError):
    """MAILBUS_REDIS_WAIT was not satisfied: too few replicas or no AOF fsync in time."""


class TooLate(StoreError):
    """The message's client already had its 451: it is dropped, never enqueued."""


@dataclass(frozen=True)
class Message:
    """One accepted DATA phase, ready to be made durable."""

    message_id: str
    data: bytes  # trace headers + bytes as received (a bytearray: every store takes one)
    envelope: Envelope
    digest: str
    size: int


@dataclass
class _Pending:
    """A message handed to the writer thread, and the future its session waits on."""

    message: Message
    deadline: float
    done: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop
    raw_stored: bool = False  # S3/file: the raw object is written, only the job is left
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = raw_key(self.message.message_id)

    def settle(self, error: BaseException | None) -> None:
        self.loop.call_soon_threadsafe(_settle, [self], error)


class Persister:
    """Makes messages durable; one per listener process, shared by all sessions."""

    def __init__(self, settings: Settings, store: Store, connection: redis.Redis) -> None:
        self.settings = settings
        self.store = store
        self.connection = connection
        self.inflight: set[asyncio.Future[None]] = set()
        self.slots = asyncio.Semaphore(settings.max_concurrent_persists)
        self._atomic = isinstance(store, RedisStore)
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None

    async def persist(self, message: Message, *, on_late: Callable[[str], None]) -> None:
        """Return once `message` is durable; raise on failure or after the persist timeout.

        `on_late(outcome)` is called if the write finishes after our caller stopped waiting."""
        deadline = time.monotonic() + self.settings.persist_timeout
        if self.slots.locked():  # only then pay for a timed wait
            await asyncio.wait_for(self.slots.acquire(), self.settings.persist_timeout)
        else:
            await self.slots.acquire()
        loop = asyncio.get_running_loop()
        pending = _Pending(message, deadline, loop.create_future(), loop)
        self.inflight.add(pending.done)
        pending.done.add_done_callback(self.inflight.discard)
        pending.done.add_done_callback(lambda _: self.slots.release())
        if self._atomic:
            self._submit(pending)
        else:
            loop.run_in_executor(None, self._store_raw, pending)
        try:
            # asyncio.wait never cancels what it waits for: a hang-up or a timeout stops our
            # wait, not the write.
            await asyncio.wait((pending.done,), timeout=deadline - time.monotonic())
        finally:
            if not pending.done.done():
                pending.done.add_done_callback(lambda f: on_late(_outcome(f)))
                pending.done.add_done_callback(lambda f: self._stored_late(message, f))
        if not pending.done.done():
            raise TimeoutError(f"persist of {pending.key} took over the persist timeout")
        pending.done.result()  # raises the write's error

    def _store_raw(self, pending: _Pending) -> None:
        """S3/file: write the raw object in this executor thread, then queue the enqueue."""
        try:
            self.store.put_raw(pending.key, pending.message.data)
        except BaseException as exc:
            pending.settle(exc)
            return
        pending.raw_stored = True
        self._submit(pending)

    def _submit(self, pending: _Pending) -> None:
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_forever, name="persist-writer")
            self._writer.daemon = True
            self._writer.start()
        self._queue.put(pending)

    def _write_forever(self) -> None:
        client = self._own_client()
        jobs = JobWriter(client, self.settings)
        while True:
            group = [self._queue.get()]
            while len(group) < MAX_GROUP:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._commit(client, jobs, group)

    def _commit(self, client: redis.Redis, jobs: JobWriter, group: list[_Pending]) -> None:
        now = time.monotonic()
        live = []
        for pending in group:  # a client that already has its 451 must not get a job
            if now > pending.deadline:
                self._forget(pending)
                pending.settle(TooLate(f"{pending.key} reached the writer after the timeout"))
            else:
                live.append(pending)
        if not live:
            return
        try:
            with client.pipeline(transaction=True) as pipe:
                self._queue_commands(jobs, pipe, live)
                pipe.execute()
        except BaseException as exc:  # the whole transaction failed: every message gets 451
            for pending in live:
                self._forget(pending)
                pending.settle(exc)
            return
        error: BaseException | None = None
        if self.settings.redis_wait:
            try:  # the jobs exist now: a failed WAIT is a 451 whose retry dedupe catches
                self._wait(client, min(p.deadline for p in live))
            except BaseException as exc:
                error = exc
                self._expect_resend(client, [p.message for p in live])
        live[0].loop.call_soon_threadsafe(_settle, live, error)  # one wake-up for the group

    def _queue_commands(self, jobs: JobWriter, pipe: Any, group: list[_Pending]) -> None:
        """The group's raw bytes, jobs and status events, queued on one MULTI/EXEC."""
        timelines = {}
        for pending in group:
            message, key = pending.message, pending.key
            env = message.envelope
            if self._atomic:
                self.store.put_raw(key, message.data, pipeline=pipe)
            timelines[message.message_id] = encode(
                {"event": "received", "peer": env.peer, "size": message.size, "tls": env.tls},
                {"event": "stored", "key": key, "store": self.store.url},
                {"event": "queued", "queue": self.settings.queue},
            )
        jobs.enqueue(
            pipe,
            [
                MessageJob(p.message.message_id, p.key, p.message.envelope, p.message.digest)
                for p in group
            ],
        )
        record_many(pipe, self.settings.dedupe_window, timelines)

    def _stored_late(self, message: Message, done: asyncio.Future[None]) -> None:
        """A write that landed after its client stopped waiting (451, or it hung up): the
        sender will send the message again."""
        if not done.cancelled() and done.exception() is None:
            asyncio.get_running_loop().run_in_executor(
                None, self._expect_resend, self.connection, [message]
            )

    def _expect_resend(self, client: redis.Redis, messages: list[Message]) -> None:
        """Tell the workers that these stored messages will come again from their senders, so
        the next copy is suppressed even without a Message-ID (`mailbus.queue.resend_key`).
        Best effort: if it fails, the copy reaches the handlers again (at-least-once)."""
        try:
            with client.pipeline(transaction=False) as pipe:
                for message in messages:
                    pipe.set(resend_key(message.digest), message.message_id,
                             ex=self.settings.dedupe_window)  # fmt: skip
                pipe.execute()
        except Exception as exc:
            for message in messages:
                log_event(log, "message.resend_unmarked", level=logging.WARNING,
                          id=message.message_id, error=repr(exc))  # fmt: skip
            return
        for message in messages:
            log_event(log, "message.resend_expected", id=message.message_id)

    def _forget(self, pending: _Pending) -> None:
        """Delete a raw object whose job will never exist (S3/file; Redis wrote nothing)."""
        if not pending.raw_stored:
            return
        try:
            self.store.delete(pending.key)
        except Exception as exc:  # best effort; reconcile finds what is left
            log_event(
                log, "message.orphan_raw", level=logging.WARNING, key=pending.key, error=repr(exc)
            )

    def _own_client(self) -> redis.Redis:
        """The writer's one-connection client (same settings as ours): MAILBUS_REDIS_WAIT's
        WAIT/WAITAOF only count the writes made on the connection that asks."""
        pool = self.connection.connection_pool
        own = redis.ConnectionPool(
            connection_class=pool.connection_class, max_connections=1, **pool.connection_kwargs
        )
        return redis.Redis(connection_pool=own)

    def _wait(self, client: redis.Redis, deadline: float) -> None:
        wait = self.settings.redis_wait
        millis = max(1, int((deadline - time.monotonic()) * 1000))
        if wait.aof:
            replicas = wait.replicas
            local, acked = client.execute_command("WAITAOF", 1, replicas, millis)
            if int(local) < 1 or int(acked) < replicas:
                raise WaitFailed(f"WAITAOF: local={local} replicas={acked}/{replicas}")
        else:
            wanted = wait.replicas
            acked = client.execute_command("WAIT", wanted, millis)
            if int(acked) < wanted:
                raise WaitFailed(f"WAIT: {acked}/{wanted} replicas acknowledged")


def _settle(group: list[_Pending], error: BaseException | None) -> None:
    for pending in group:
        if pending.done.done():
            continue
        if error is None:
            pending.done.set_result(None)
        else:
            pending.done.set_exception(error)


def _outcome(done: asyncio.Future[Any]) -> str:
    if done.cancelled():
        return "cancelled"
    error = done.exception()
    return "stored" if error is None else f"failed: {error!r}"
