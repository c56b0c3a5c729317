"""`mailbus erase`: forget every message an address appears in, or one message, on request.

A message is found by its stored raw bytes (the trace block holds the envelope: `Return-Path:`
and `X-Original-To:`; the sender's headers follow) and by its job record (the envelope), so one
whose raw bytes already expired is found too. Scanning reads every raw object: the honest way,
as neither S3 nor a directory can be searched by content. What goes, per message: the raw bytes
and the `done/` marker (on S3 every version of them), its attachments unless a message that stays
shares them (attachments are content-addressed), the status timeline, the job and its results,
the ledger's records of its delivery, and its entry in the message index.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry
from rq.serializers import JSONSerializer

from mailbus.domains import canonical_address
from mailbus.errors import NotFound
from mailbus.logs import log_event
from mailbus.queue import message_queue, resend_key
from mailbus.rqseam.layout import job_key, result_key
from mailbus.settings import Settings
from mailbus.status import INDEX, status_key
from mailbus.stores.base import RAW_PREFIX, Store, attachment_key, done_key, raw_key
from mailbus.trace import delivery_digest, split_trace

logger = logging.getLogger("mailbus.erase")
LEDGER = "mailbus:ledger:"
PROGRESS_EVERY = 500
_WORD = re.compile(r"[^\s<>()\[\]\",;:]+@[^\s<>()\[\]\",;:]+")
_ADDRESS_FIELDS = {"return-path", "x-original-to", "delivered-to", "from", "sender", "to", "cc",
                   "bcc", "reply-to", "resent-from", "resent-sender", "resent-to", "resent-cc",
                   "resent-bcc", "disposition-notification-to", "mail-followup-to",
                   "mail-reply-to", "errors-to"}  # fmt: skip
_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)


@dataclass
class Erased:
    """One message and what was (or, with --dry-run, would be) removed for it."""

    message_id: str
    keys: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)


def forget_indexed(connection: Any, message_id: str) -> None:
    """Drop `message_id` from the message index (on a client or a pipeline)."""
    connection.zrem(INDEX, message_id)


def find(
    connection: redis.Redis,
    store: Store,
    settings: Settings,
    address: str,
    *,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Ids of every message whose envelope or headers contain `address`, stored or queued."""
    wanted = _canonical(address)
    found: set[str] = set()
    for count, (message_id, raw) in enumerate(_stored(store), start=1):
        if wanted in mentioned(raw):
            found.add(message_id)
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    for job in _jobs(connection, settings):
        envelope = job.kwargs.get("envelope") or {}
        named = [envelope.get("mail_from") or "", *(envelope.get("rcpt_tos") or [])]
        if wanted in {_canonical(a) for a in named}:
            found.add(job.id)
    return sorted(found)


def mentioned(raw: bytes) -> set[str]:
    """Every address in the message's header block (trace block included), canonical: the
    address fields parsed as such, and any address-shaped word in any other field (a
    `Received: ... for <addr>` clause, a Subject naming someone)."""
    end = raw.find(b"\r\n\r\n")
    headers = _HEADERS.parsebytes(raw if end < 0 else raw[: end + 4])
    addresses: set[str] = set()
    for name, value in headers.items():
        text = str(value)
        addresses.update(_canonical(a.strip(".")) for a in _WORD.findall(text))
        if name.lower() in _ADDRESS_FIELDS:
            addresses.update(_canonical(a) for _, a in email.utils.getaddresses([text]) if a)
    return addresses


def erase(
    connection: redis.Redis,
    store: Store,
    message_ids: Iterable[str],
    *,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Erased], list[str]]:
    """Remove the messages (nothing with `dry_run`); return what went per message, and the
    attachment keys that went with them (those no other stored message shares)."""
    targets = set(message_ids)
    erased = [_plan(connection, store, message_id) for message_id in sorted(targets)]
    attachments = _unshared(store, targets, progress) if any(e.keys for e in erased) else []
    if dry_run:
        return erased, attachments
    for entry in erased:
        _remove(connection, store, entry)
    for key in attachments:
        _delete(store, key)
    return erased, attachments


def _plan(connection: redis.Redis, store: Store, message_id: str) -> Erased:
    entry = Erased(message_id)
    entry.keys = [k for k in (raw_key(message_id), done_key(message_id)) if store.exists(k)]
    job = _job(connection, message_id)
    digest = job.kwargs.get("digest") if job is not None else None
    if digest is None and raw_key(message_id) in entry.keys:
        envelope, received = split_trace(store.get(raw_key(message_id)))
        digest = delivery_digest(received, envelope)
    candidates = [status_key(message_id), result_key(message_id),
                  f"{LEDGER}crashes:{message_id}"]  # fmt: skip
    if digest:
        candidates += [f"{LEDGER}{digest}", f"{LEDGER}{digest}:{message_id}", resend_key(digest)]
    with connection.pipeline(transaction=False) as pipe:
        for key in candidates:
            pipe.exists(key)
        pipe.zscore(INDEX, message_id)
        *present, indexed = pipe.execute()
    entry.records = [key for key, there in zip(candidates, present, strict=True) if there]
    if job is not None:
        entry.records.insert(0, job_key(message_id))
    if indexed is not None:
        entry.records.append(f"{INDEX} {message_id}")
    return entry


def _remove(connection: redis.Redis, store: Store, entry: Erased) -> None:
    job = _job(connection, entry.message_id)
    if job is not None:
        job.delete(remove_from_queue=True)
    with connection.pipeline(transaction=False) as pipe:
        for key in entry.records:
            if not key.startswith(INDEX):
                pipe.delete(key)
        forget_indexed(pipe, entry.message_id)
        pipe.execute()
    for key in entry.keys:
        _delete(store, key)
    log_event(logger, "message.erased", id=entry.message_id, keys=entry.keys,
              records=entry.records)  # fmt: skip


def _unshared(store: Store, targets: set[str], progress: Callable[[int], None] | None) -> list[str]:
    """Attachment keys of the targets that no other stored message refers to. Reading every
    other message again is the price of content addressing without a reference count."""
    leaving: set[str] = set()
    staying: set[str] = set()
    for count, (message_id, raw) in enumerate(_stored(store), start=1):
        (leaving if message_id in targets else staying).update(_attachment_keys(message_id, raw))
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    return sorted(k for k in leaving - staying if store.exists(k))


def _attachment_keys(message_id: str, raw: bytes) -> set[str]:
    from mailbus.parse import parse  # the parser is big: only erase by id with attachments pays

    envelope, _ = split_trace(raw)
    msg = parse(raw, envelope, msg_id=message_id, raw_key=raw_key(message_id))
    return {attachment_key(a.sha256) for a in msg.attachments}


def _stored(store: Store) -> Iterator[tuple[str, bytes]]:
    for key in store.keys(RAW_PREFIX):
        try:
            yield key.removeprefix(RAW_PREFIX), store.get(key)
        except NotFound:  # expired or erased meanwhile
            continue


def _jobs(connection: redis.Redis, settings: Settings) -> Iterator[Job]:
    """Every job record of the queue: waiting, scheduled (retrying), finished, dead."""
    queue = message_queue(connection, settings)
    ids = set(queue.get_job_ids())
    for registry in (ScheduledJobRegistry, FinishedJobRegistry, FailedJobRegistry):
        ids.update(registry(queue=queue).get_job_ids(cleanup=False))
    for job in Job.fetch_many(sorted(ids), connection=connection, serializer=JSONSerializer):
        if job is not None:
            yield job


def _job(connection: redis.Redis, message_id: str) -> Job | None:
    jobs = Job.fetch_many([message_id], connection=connection, serializer=JSONSerializer)
    return jobs[0] if jobs else None


def _delete(store: Store, key: str) -> None:
    """Delete `key`; on a versioned S3 bucket every version, or the bytes would stay."""
    purge = getattr(store, "purge", None)
    if purge is not None:
        purge(key)
    else:
        store.delete(key)


def _canonical(address: str) -> str:
    """One spelling per mailbox: IDNA domain form, any case (erase rather finds too much)."""
    return canonical_address(address.strip()).lower()
