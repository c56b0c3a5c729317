"""What the workers remember about each delivery, in Redis: which handlers already succeeded,
which copy finished first, who is working on it now, how often it killed a worker, and the
status timeline events that `mailbus show` prints.

Completion is kept for `dedupe_window` seconds in a record that every copy of one message shares
(`delivery_key`), so a retry, a reconciled or requeued job and a duplicate copy all skip the
handlers that already ran, and a copy that finds the record delivered by another is suppressed.
Which copies are one message: with a Message-ID, every copy with the same delivery digest (sha256
of the bytes as received + the envelope), i.e. a sender's retry. Without one, identical bytes may
be two messages (a script sending one alert twice): each copy has its own record, except the
copy the listener stored but answered with a temporary failure (`mailbus.queue.resend_key` names
it) and the sender's next copy of it. A copy claims the digest while it reads, and then (without
a Message-ID) its own record, so identical messages run side by side. A handler that succeeds
but whose success is not yet recorded when the worker dies runs again (at-least-once): handlers
should be idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from mailbus import status
from mailbus.deadletters import crash_key
from mailbus.errors import MailbusError
from mailbus.queue import resend_key

PREFIX = "mailbus:ledger:"
_TAKEOVER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) and 1
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class DeliveryRecord:
    delivered_by: str | None
    handlers_done: frozenset[str]
    auth: str | None = None  # the verdicts (JSON) computed at the first attempt: workers.auth


@dataclass(frozen=True)
class Found:
    """What a copy reads under the digest's claim: the digest's record, and the message the
    listener stored but answered with a 451 (`mailbus.queue.resend_key`), if any."""

    shared: DeliveryRecord
    resend_of: str | None


def delivery_key(digest: str, origin: str | None) -> str:
    """The record a copy shares: the digest's (copies with a Message-ID, `origin` None), or
    one transmission's (`origin`: the copy's own id, or the id of the copy it resends)."""
    return digest if origin is None else f"{digest}:{origin}"


class DeliveryBusy(MailbusError):
    """Another job holds this delivery (a concurrent duplicate); the job retries later."""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _record(raw: dict[Any, Any]) -> DeliveryRecord:
    fields = {_text(k) or "": _text(v) for k, v in raw.items()}
    done = {k.removeprefix("handler:") for k in fields if k.startswith("handler:")}
    return DeliveryRecord(delivered_by=fields.get("delivered"), handlers_done=frozenset(done),
                          auth=fields.get("auth"))  # fmt: skip


def _found(shared: dict[Any, Any], resend: Any) -> Found:
    return Found(_record(shared), _text(resend))


class Ledger:
    """Per-delivery records; every key expires after the dedupe window."""

    def __init__(self, connection: redis.Redis, *, window: int) -> None:
        self.connection = connection
        self.window = window
        # What the next round trip writes: key writes, the keys they touched (one EXPIRE
        # each), and timeline events by message id (one RPUSH per message).
        self._pending: list[Callable[[Any], None]] = []
        self._touched: set[str] = set()
        self._events: dict[str, list[dict[str, Any]]] = {}

    def _key(self, digest: str) -> str:
        return f"{PREFIX}{digest}"

    def record(self, key: str) -> DeliveryRecord:
        """What is known of the delivery `key` (`delivery_key`): who finished it (if anyone
        did) and which handlers already succeeded. Read while holding the claim, so it stays
        true."""
        return _record(self.connection.hgetall(self._key(key)))

    def read(self, digest: str) -> Found:
        """`Found` for a copy whose claim is held (the slow path of `claim_and_read`)."""
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._key(digest))
            pipe.get(resend_key(digest))
            return _found(*pipe.execute())

    def claim_and_read(
        self, digest: str, token: str, ttl: int, *, fetch: str | None = None
    ) -> tuple[Found | None, bytes | None]:
        """The common case of `claim` + `read` in one round trip: take the claim if it is free
        and read after it (None when someone holds the claim), and GET the Redis key `fetch`
        too (the raw message, with the Redis store)."""
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.set(self._key(digest) + ":claim", token, nx=True, ex=ttl)
            pipe.hgetall(self._key(digest))
            pipe.get(resend_key(digest))
            if fetch is not None:
                pipe.get(fetch)
            taken, shared, resend, *fetched = pipe.execute()
        return (_found(shared, resend) if taken else None), (fetched[0] if fetched else None)

    def move_claim(self, digest: str, key: str, token: str, ttl: int) -> DeliveryRecord | None:
        """Trade the digest's claim for the claim on delivery `key` (a copy without a
        Message-ID: identical messages then run side by side) and read its record, in one
        round trip; None when another copy of that transmission holds it."""
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.set(self._key(key) + ":claim", token, nx=True, ex=ttl)
            pipe.hgetall(self._key(key))
            pipe.eval(_RELEASE, 1, self._key(digest) + ":claim", token)
            taken, fields, _ = pipe.execute()
        return _record(fields) if taken else None

    def mark_handler(
        self, digest: str, handler: str, message_id: str, *, later: bool = False, **event: Any
    ) -> None:
        """Record that `handler` succeeded, with its timeline event: at once (one round trip),
        or with `later` in the next ledger write or the job's own finish (`flush`)."""
        key = self._key(digest)

        self._pending.append(lambda pipe: pipe.hset(key, f"handler:{handler}", message_id))
        self._touched.add(key)
        self.note(message_id, "handler", handler=handler, **event)
        if not later:
            self.write_pending()

    def keep_auth(self, digest: str, verdicts: str) -> None:
        """Store the delivery's verdicts with its next ledger write (a handler's result, a
        failure, the release or the finish): every later attempt reads them with its claim."""
        key = self._key(digest)
        self._pending.append(lambda pipe: pipe.hset(key, "auth", verdicts))
        self._touched.add(key)

    def mark_delivered(self, digest: str, message_id: str, token: str, **event: Any) -> None:
        """Record the delivery as finished by `message_id`, with its "done" event, and drop
        the claim `token` holds. Left pending: the worker writes it in the transaction that
        finishes the job (`flush`)."""
        key = self._key(digest)

        def write(pipe: Any) -> None:
            pipe.hsetnx(key, "delivered", message_id)
            pipe.eval(_RELEASE, 1, key + ":claim", token)

        self._pending.append(write)
        self._touched.add(key)
        self.note(message_id, "done", **event)

    def resent(self, digest: str, origin: str) -> None:
        """The sender's copy of `origin` has come (pending write): drop the listener's note, so
        a later identical message without a Message-ID counts as a new one again."""
        self._pending.append(lambda pipe: pipe.eval(_RELEASE, 1, resend_key(digest), origin))

    def claim(
        self, digest: str, token: str, ttl: int, *, stale: Callable[[str], bool]
    ) -> str | None:
        """Take the delivery for `token` ("<message id> <worker>"); return the holder's token
        while another live job holds it. A holder whose worker died (`stale`) is taken over."""
        key = self._key(digest) + ":claim"
        while not self.connection.set(key, token, nx=True, ex=ttl):
            holder = _text(self.connection.get(key))
            if holder is None:
                continue  # released meanwhile: try again
            if holder != token and not stale(holder):
                return holder
            if self.connection.eval(_TAKEOVER, 1, key, holder, token, ttl):
                return None
        return None

    def release(self, digest: str, token: str) -> None:
        """Drop the claim only if we still hold it (with whatever is pending)."""
        key = self._key(digest) + ":claim"
        self._pending.append(lambda pipe: pipe.eval(_RELEASE, 1, key, token))
        self.write_pending()

    def add_crash(self, message_id: str) -> int:
        """Count one worker death while processing `message_id`; return the new total."""
        key = crash_key(message_id)
        with self.connection.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, self.window)
            count, _ = pipe.execute()
        return int(count)

    def crashes(self, message_id: str) -> int:
        return int(_text(self.connection.get(crash_key(message_id))) or 0)

    def event(self, message_id: str, event: str, **fields: Any) -> None:
        """Append one event to the message's status timeline (`mailbus show ID`)."""
        self.note(message_id, event, **fields)
        self.write_pending()

    def note(self, message_id: str, event: str, **fields: Any) -> None:
        """A timeline event written with the next ledger write instead of on its own: one
        round trip fewer per message. Lost only if the worker dies first; the retry notes it
        again."""
        entry = {"at": time.time(), "event": event, **fields}  # stamped now, not when written
        self._events.setdefault(message_id, []).append(entry)

    def flush(self, pipe: Any) -> None:
        """Add every pending write to `pipe` (the caller executes it)."""
        for write in self._pending:
            write(pipe)
        for key in self._touched:
            pipe.expire(key, self.window)
        for message_id, events in self._events.items():
            status.record(pipe, message_id, self.window, *events)
        self._pending.clear()
        self._touched.clear()
        self._events.clear()

    def write_pending(self) -> None:
        """Write what is pending, in one transaction."""
        if not self._pending and not self._events:
            return
        with self.connection.pipeline() as pipe:
            self.flush(pipe)
            pipe.execute()
