"""What the workers remember about each delivery, in Redis: which handlers already succeeded,
which delivery finished first, who is working on it now, how often it killed a worker, and the
status timeline events that `mailbus show` prints.

Completion is keyed by the delivery digest (sha256 of the bytes as received + the envelope), not
by the message id, and kept for `dedupe_window` seconds: a retry of a message and a duplicate
delivery of the same message (a sender's retry after a lost 250) both see the handlers that
already ran and skip them. A handler that succeeds but whose success is not yet recorded when
the worker dies runs again (at-least-once), so handlers with side effects should be idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from mailbus import status
from mailbus.errors import MailbusError

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


class DeliveryBusy(MailbusError):
    """Another job holds this delivery (a concurrent duplicate); the job retries later."""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


class Ledger:
    """Per-delivery records; every key expires after the dedupe window."""

    def __init__(self, connection: redis.Redis, *, window: int) -> None:
        self.connection = connection
        self.window = window
        self._pending: list[tuple[str, dict[str, Any]]] = []

    def _key(self, digest: str) -> str:
        return f"{PREFIX}{digest}"

    def record(self, digest: str) -> DeliveryRecord:
        """What is known of this delivery, in one round trip: who finished it (if anyone did)
        and which handlers already succeeded. Read while holding the claim, so it stays true."""
        fields = {
            _text(k) or "": _text(v) for k, v in self.connection.hgetall(self._key(digest)).items()
        }
        done = {k.removeprefix("handler:") for k in fields if k.startswith("handler:")}
        return DeliveryRecord(delivered_by=fields.get("delivered"), handlers_done=frozenset(done))

    def mark_handler(self, digest: str, handler: str, message_id: str, **event: Any) -> None:
        """Record that `handler` succeeded, with its timeline event, in one round trip."""
        key = self._key(digest)
        with self.connection.pipeline() as pipe:
            pipe.hset(key, f"handler:{handler}", message_id)
            pipe.expire(key, self.window)
            self._flush(pipe)
            status.record(
                pipe, message_id, self.window, {"event": "handler", "handler": handler, **event}
            )
            pipe.execute()

    def mark_delivered(self, digest: str, message_id: str, token: str, **event: Any) -> None:
        """Record the delivery as finished by `message_id`, with its "done" event, and drop
        the claim `token` holds: one round trip."""
        key = self._key(digest)
        with self.connection.pipeline() as pipe:
            pipe.hsetnx(key, "delivered", message_id)
            pipe.expire(key, self.window)
            self._flush(pipe)
            status.record(pipe, message_id, self.window, {"event": "done", **event})
            pipe.eval(_RELEASE, 1, key + ":claim", token)
            pipe.execute()

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
        """Drop the claim only if we still hold it."""
        key = self._key(digest) + ":claim"
        self.connection.eval(_RELEASE, 1, key, token)

    def add_crash(self, message_id: str) -> int:
        """Count one worker death while processing `message_id`; return the new total."""
        key = f"{PREFIX}crashes:{message_id}"
        with self.connection.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, self.window)
            count, _ = pipe.execute()
        return int(count)

    def crashes(self, message_id: str) -> int:
        return int(_text(self.connection.get(f"{PREFIX}crashes:{message_id}")) or 0)

    def clear_crashes(self, message_id: str) -> None:
        self.connection.delete(f"{PREFIX}crashes:{message_id}")

    def event(self, message_id: str, event: str, **fields: Any) -> None:
        """Append one event to the message's status timeline (`mailbus show ID`)."""
        with self.connection.pipeline(transaction=False) as pipe:
            self._flush(pipe)
            status.record(pipe, message_id, self.window, {"event": event, **fields})
            pipe.execute()

    def note(self, message_id: str, event: str, **fields: Any) -> None:
        """A timeline event written with the next ledger write instead of on its own: one
        round trip fewer per message. Lost only if the worker dies first; the retry notes it
        again."""
        self._pending.append((message_id, {"event": event, **fields}))

    def _flush(self, pipe: Any) -> None:
        for message_id, event in self._pending:
            status.record(pipe, message_id, self.window, event)
        self._pending.clear()
