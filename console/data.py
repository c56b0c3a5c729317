"""What the console reads: the time index, each message's summary and status, its parsed content.

Read-only by design: the index (`mailbus.status.INDEX`), the status timelines, RQ's job records
and the store. A summary (envelope, From, subject) never changes once a message is stored, so it
is read once and kept in a bounded in-process cache; the status is read fresh for every page.
Only the first 64 KiB of each raw message is fetched for a summary (with the Redis store, all
rows of a page in one round trip).
"""

from __future__ import annotations

import json
import re
import threading
import time
import zlib
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import redis

from mailbus.envelope import Envelope
from mailbus.errors import StoreError
from mailbus.message import InboundMessage
from mailbus.parse import parse
from mailbus.rqseam.layout import ask_job_data, ask_job_status, job_kwargs
from mailbus.status import INDEX, status_key
from mailbus.stores import RedisStore, Store, raw_key

HEAD_BYTES = 65_536  # enough for the headers of real mail; a 5 MB subject is cut, not fetched
SCAN_LIMIT = 2_000  # index entries one search request looks at before offering to go on
STATUSES = ("queued", "running", "retrying", "done", "dead", "duplicate")
_ID = re.compile(r"^[0-9A-Za-z_-]{10,64}$")


@dataclass(frozen=True)
class Summary:
    """What the list shows of a message that never changes."""

    id: str
    received: float
    envelope: Envelope
    from_: str
    subject: str


@dataclass(frozen=True)
class Row:
    summary: Summary
    status: str
    size: int | None
    attachments: int | None
    verdicts: dict[str, str]  # spf, dkim, dmarc from the worker's `auth` event; {} until then


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    total: int  # messages in the index
    next_offset: int | None  # where the next page (or the search's next stretch) starts


def status_of(message_id: str, events: list[dict[str, Any]], job_status: str | None) -> str:
    """The message's state from its timeline, refined by its RQ job while it is in flight."""
    state = "queued"
    for event in events:
        name = event.get("event")
        if name in ("received", "stored", "queued", "requeued"):
            state = "queued"
        elif name == "parsed":
            state = "running"
        elif name == "handler" and event.get("result") == "failed":
            state = "retrying"
        elif name == "done":
            first = event.get("duplicate_of")
            state = "duplicate" if first not in (None, message_id) else "done"
        elif name == "dead":
            state = "dead"
    if state in ("queued", "retrying", "running"):
        if job_status == "started":
            return "running"
        if job_status in ("scheduled", "deferred"):
            return "retrying"
    return state


class Reader:
    """One per console process; every method is blocking (Starlette runs them in threads)."""

    def __init__(self, connection: redis.Redis, store: Store, *, cache_size: int = 20_000):
        self.connection = connection
        self.store = store
        self._summaries: OrderedDict[str, Summary] = OrderedDict()
        self._cache_size = cache_size
        self._parsed: OrderedDict[str, InboundMessage] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="console-store")

    def page(self, *, offset: int, limit: int, query: str = "", status: str = "") -> Page:
        """Newest first; with a query or status, scan from `offset` for up to SCAN_LIMIT."""
        total = int(self.connection.zcard(INDEX))  # type: ignore[arg-type]
        terms = query.lower().split()
        if not terms and not status:
            rows = self._rows(self._range(offset, offset + limit - 1))
            more = offset + limit < total
            return Page(rows, total, offset + limit if more else None)
        if len(terms) == 1 and _ID.match(query.strip()):
            score = self.connection.zscore(INDEX, query.strip())
            if score is not None:
                return Page(self._rows([(query.strip(), float(score))]), total, None)
        found: list[Row] = []
        at, end = offset, min(total, offset + SCAN_LIMIT)
        while at < end and len(found) < limit:
            chunk = self._range(at, min(end, at + 200) - 1)
            if not chunk:
                break
            summaries = self._fill_summaries(chunk)  # words first: only matches need a status
            hits = [
                (position, entry)
                for position, entry in enumerate(chunk, start=at + 1)
                if _matches(summaries[entry[0]], terms)
            ]
            rows = self._rows([entry for _, entry in hits])
            for (position, _), row in zip(hits, rows, strict=True):
                if not status or row.status == status:
                    found.append(row)
                    if len(found) == limit:
                        at = position
                        break
            else:
                at += len(chunk)
        return Page(found, total, at if at < total else None)

    def _range(self, start: int, stop: int) -> list[tuple[str, float]]:
        entries = self.connection.zrevrange(INDEX, start, stop, withscores=True)
        return [(_text(member), float(score)) for member, score in entries]  # type: ignore[union-attr,str-unpack]

    def _rows(self, entries: list[tuple[str, float]]) -> list[Row]:
        ids = [message_id for message_id, _ in entries]
        summaries = self._fill_summaries(entries)
        with self.connection.pipeline(transaction=False) as pipe:
            for message_id in ids:
                pipe.lrange(status_key(message_id), 0, -1)
                ask_job_status(pipe, message_id)
            replies = pipe.execute()
        rows = []
        for i, message_id in enumerate(ids):
            events = [json.loads(item) for item in replies[2 * i]]
            job_status = _text(replies[2 * i + 1]) if replies[2 * i + 1] else None
            rows.append(
                Row(
                    summary=summaries[message_id],
                    status=status_of(message_id, events, job_status),
                    size=_field(events, "received", "size"),
                    attachments=_field(events, "parsed", "attachments"),
                    verdicts=verdicts(events),
                )
            )
        return rows

    def _fill_summaries(self, entries: list[tuple[str, float]]) -> dict[str, Summary]:
        """The entries' summaries, reading those not cached yet (requests share the cache from
        several threads, hence the lock and the returned dict)."""
        with self._lock:
            known = {i: self._summaries[i] for i, _ in entries if i in self._summaries}
            for message_id in known:
                self._summaries.move_to_end(message_id)
        missing = [(i, t) for i, t in entries if i not in known]
        if not missing:
            return known
        envelopes = self._envelopes([i for i, _ in missing])
        heads = self._heads([i for i, _ in missing])
        for (message_id, received), envelope, head in zip(missing, envelopes, heads, strict=True):
            msg = parse(_header_block(head), envelope)
            from_ = msg.from_.email if msg.from_ else ""
            known[message_id] = Summary(message_id, received, envelope, from_, msg.subject)
        with self._lock:
            for message_id, _ in missing:
                self._summaries[message_id] = known[message_id]
            while len(self._summaries) > self._cache_size:
                self._summaries.popitem(last=False)
        return known

    def envelope(self, message_id: str) -> Envelope:
        return self._envelopes([message_id])[0]

    def _envelopes(self, ids: list[str]) -> list[Envelope]:
        """From each RQ job's arguments; a job already expired leaves an empty envelope."""
        with self.connection.pipeline(transaction=False) as pipe:
            for message_id in ids:
                ask_job_data(pipe, message_id)
            blobs = pipe.execute()
        envelopes = []
        for blob in blobs:
            try:
                envelopes.append(Envelope.from_dict(job_kwargs(blob)["envelope"]))
            except (TypeError, ValueError, LookupError, zlib.error):
                envelopes.append(Envelope())
        return envelopes

    def _heads(self, ids: list[str]) -> list[bytes]:
        """The first HEAD_BYTES of each raw message: one round trip with the Redis store, a few
        ranged reads at once with S3 or a directory."""
        if isinstance(self.store, RedisStore):
            with self.connection.pipeline(transaction=False) as pipe:
                for message_id in ids:
                    pipe.getrange(self.store.redis_key(raw_key(message_id)), 0, HEAD_BYTES - 1)
                return [bytes(head or b"") for head in pipe.execute()]
        return list(self._pool.map(self._head, ids))

    def _head(self, message_id: str) -> bytes:
        try:
            return self.store.get_head(raw_key(message_id), HEAD_BYTES)
        except StoreError:
            return b""  # gone from the store: the row still shows its envelope and status

    def timeline(self, message_id: str) -> tuple[str, list[dict[str, Any]]]:
        """The status and every event of one message, oldest first."""
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.lrange(status_key(message_id), 0, -1)
            ask_job_status(pipe, message_id)
            items, job_status = pipe.execute()
        events = [json.loads(item) for item in items]
        return status_of(message_id, events, _text(job_status) if job_status else None), events

    def raw(self, message_id: str) -> bytes:
        """The stored bytes; raises NotFound (a StoreError) when they are gone."""
        return self.store.get(raw_key(message_id))

    def message(self, message_id: str) -> InboundMessage:
        """The message parsed here as a worker would; the last few are kept for their parts."""
        with self._lock:
            if message_id in self._parsed:
                self._parsed.move_to_end(message_id)
                return self._parsed[message_id]
        data = self.raw(message_id)
        msg = parse(data, self.envelope(message_id), msg_id=message_id, raw_key=raw_key(message_id))
        with self._lock:
            self._parsed[message_id] = msg
            while len(self._parsed) > 4:
                self._parsed.popitem(last=False)
        return msg

    def accepted_since(self, seconds: float) -> int:
        return int(self.connection.zcount(INDEX, time.time() - seconds, "+inf"))  # type: ignore[arg-type]


def _matches(summary: Summary, terms: list[str]) -> bool:
    env = summary.envelope
    text = " ".join((summary.id, env.mail_from, *env.rcpt_tos, summary.from_, summary.subject))
    haystack = text.lower()
    return all(term in haystack for term in terms)


def _header_block(head: bytes) -> bytes:
    """The header section alone, so a body cut at HEAD_BYTES is never parsed."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = head.find(separator)
        if end >= 0:
            return head[: end + len(separator)]
    return head + b"\r\n\r\n"


def verdicts(events: list[dict[str, Any]]) -> dict[str, str]:
    """Whether to believe the message, as the worker judged it (its `auth` timeline event):
    SPF, DMARC, and DKIM as its best signature's result ("none" without a signature)."""
    found = next((e for e in reversed(events) if e.get("event") == "auth"), None)
    if found is None:
        return {}
    dkim = [str(r) for r in found.get("dkim") or ()]
    best = next((r for r in ("pass", "fail") if r in dkim), dkim[0] if dkim else "none")
    return {"spf": str(found.get("spf")), "dkim": best, "dmarc": str(found.get("dmarc"))}


def _field(events: list[dict[str, Any]], event: str, name: str) -> Any:
    for item in reversed(events):
        if item.get("event") == event and name in item:
            return item[name]
    return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
