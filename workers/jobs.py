"""The RQ entry point `process_message`: fetch the raw bytes, parse, store attachments, dispatch.

The listener enqueues it by name (`mailbus.queue.JOB_FUNCTION`) with JSON primitives only. Failure
semantics: a DeliveryError (no route, unparseable, raw bytes gone) is deterministic, so the job
goes to the failed registry at once (retries_left set to 0); any other error (a handler, the
store, Redis) propagates to RQ, which retries with the configured backoff. Handlers that already
succeeded for this delivery are skipped on every later attempt (see workers.ledger).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import replace
from typing import Any

from rq.job import Job, get_current_job
from rq.timeouts import JobTimeoutException

from mailbus.dispatch import dispatch, plan
from mailbus.envelope import Envelope
from mailbus.errors import DeliveryError, NotFound, ParseFailure, StoreError
from mailbus.logs import log_event
from mailbus.parse import parse
from mailbus.router import Match
from mailbus.stores import RedisStore
from mailbus.stores.base import attachment_key, done_key
from workers import auth, claims, context
from workers import metrics as worker_metrics

logger = logging.getLogger("mailbus.worker")
FATAL = (JobTimeoutException, MemoryError)


def process_message(
    message_id: str, raw_key: str, envelope: dict[str, Any], digest: str
) -> dict[str, Any]:
    """The RQ entry point, for a job RQ performs itself; mailbus workers call `deliver`."""
    ctx = context.current()
    result = deliver(ctx, get_current_job(), message_id=message_id, raw_key=raw_key,
                     envelope=envelope, digest=digest)  # fmt: skip
    ctx.ledger.write_pending()
    return result


def deliver(
    ctx: context.Context,
    job: Job | None,
    *,
    message_id: str,
    raw_key: str,
    envelope: dict[str, Any],
    digest: str,
) -> dict[str, Any]:
    """Deliver one stored message to its handlers; returns what ran (kept as the job result).

    On success the delivery's last ledger writes (its completion, the claim's release) are left
    pending in `ctx.ledger`, for the caller to write in the transaction that finishes the job
    (`Ledger.flush`), so a message costs one round trip fewer."""
    attempt = _attempt(job, ctx.settings.retries)
    log_event(logger, "message.started", id=message_id, attempt=attempt,
              worker=job.worker_name if job is not None else None)  # fmt: skip
    try:
        result = _deliver(
            ctx, job, message_id, raw_key, Envelope.from_dict(envelope), digest, attempt
        )
    except DeliveryError as exc:
        if job is not None:
            job.retries_left = 0  # deterministic: straight to the dead-letter registry
        _dead(ctx, message_id, exc)
        raise
    except Exception as exc:
        last = job is None or not job.retries_left
        log_event(logger, "message.failed", level=logging.WARNING, id=message_id,
                  attempt=attempt, final=last, error=_last_line(exc))  # fmt: skip
        if last:
            _dead(ctx, message_id, exc)
        else:
            worker_metrics.job_outcome("retry")
        raise
    duplicate = result["duplicate_of"] not in (None, message_id)
    worker_metrics.job_outcome("duplicate" if duplicate else "done")
    return result


def _deliver(
    ctx: context.Context,
    job: Job | None,
    message_id: str,
    raw_key: str,
    envelope: Envelope,
    digest: str,
    attempt: int,
) -> dict[str, Any]:
    ledger = ctx.ledger
    store = ctx.store
    fetch = store.redis_key(raw_key) if isinstance(store, RedisStore) else None
    token, found, raw = claims.claim(ctx, job, digest, message_id, fetch)
    key, released = digest, False  # the claim we hold: the digest's, then the delivery's
    try:
        raw = _fetch(ctx, raw_key, raw)
        key, record = claims.delivery(ctx, token, digest, message_id, found, raw, envelope)
        resends = found.resend_of if key != digest and found.resend_of != message_id else None
        first = record.delivered_by
        if first is not None:
            if first != message_id:
                reason = "message-id" if key == digest else "resend"
                ledger.event(message_id, "duplicate", duplicate_of=first, reason=reason)
                log_event(logger, "message.duplicate", id=message_id, duplicate_of=first,
                          reason=reason)  # fmt: skip
                if resends:
                    ledger.resent(digest, resends)
            _finish(ctx, message_id, "done", duplicate_of=first)
            return {"duplicate_of": first, "ran": [], "skipped": []}

        started = time.perf_counter()
        msg = _parse(ctx, message_id, raw_key, envelope, raw)
        parse_ms = round((time.perf_counter() - started) * 1000, 1)
        auth.attach(ctx, msg, raw, key, record.auth)  # before dispatch: routes may gate on it
        ledger.note(message_id, "parsed", attempt=attempt, attachments=len(msg.attachments),
                     defects=len(msg.defects), limits_hit=list(msg.limits_hit))  # fmt: skip
        log_event(logger, "message.parsed", id=message_id, attempt=attempt, parse_ms=parse_ms,
                  attachments=len(msg.attachments), defects=len(msg.defects),
                  limits_hit=list(msg.limits_hit))  # fmt: skip
        matches = [
            replace(m, handler=worker_metrics.timed_handler(m.handler))
            for m in plan(ctx.router, envelope.rcpt_tos, msg)
        ]
        _store_attachments(ctx, msg)

        def done(match: Match) -> bool:
            return match.key in record.handlers_done

        to_run = [m for m in matches if not done(m)]

        def ok(match: Match) -> None:  # the last one is written with the job's finish
            ledger.mark_handler(key, match.key, message_id, later=match is to_run[-1],
                                result="ok", attempt=attempt)  # fmt: skip
            log_event(logger, "handler.ok", id=message_id, handler=match.key, attempt=attempt)

        def failed(match: Match, exc: BaseException) -> None:
            ledger.event(message_id, "handler", handler=match.key, result="failed",
                         attempt=attempt, error=_last_line(exc))  # fmt: skip
            log_event(logger, "handler.failed", level=logging.WARNING, id=message_id,
                      handler=match.key, attempt=attempt, exc_info=exc)  # fmt: skip

        outcome = dispatch(matches, msg, done=done, on_success=ok, on_failure=failed, fatal=FATAL)
        ran = [m.key for m in outcome.ran]
        skipped = [m.key for m in outcome.skipped]
        ledger.mark_delivered(key, message_id, token, handlers=ran, skipped=skipped)
        if resends:
            ledger.resent(digest, resends)
        released = True
        _mark_finished(ctx, message_id, "done")
        log_event(logger, "message.done", id=message_id, handlers=ran, skipped=skipped)
        return {"duplicate_of": None, "ran": ran, "skipped": skipped}
    finally:
        if not released:
            ledger.release(key, token)


def _fetch(ctx: context.Context, raw_key: str, raw: bytes | None) -> bytes:
    """The raw message (`raw`, if it was read already, else from the store)."""
    if raw is not None:
        return raw
    try:
        return ctx.store.get(raw_key)
    except NotFound as exc:
        raise DeliveryError(f"raw message {raw_key} is no longer in the store") from exc


def _parse(
    ctx: context.Context, message_id: str, raw_key: str, envelope: Envelope, raw: bytes
) -> Any:
    try:
        with worker_metrics.parsing():
            msg = parse(raw, envelope, msg_id=message_id, raw_key=raw_key)
    except FATAL:
        raise
    except Exception as exc:  # parse() promises never to raise; if it does, it is deterministic
        raise ParseFailure(f"parser raised {type(exc).__name__}: {exc}") from exc
    msg.raw = replace(msg.raw, _reader=functools.partial(ctx.store.get, raw_key))  # msg.raw.read()
    return msg


def _store_attachments(ctx: context.Context, msg: Any) -> None:
    """Content-addressed by sha256, so the same file sent twice is stored once."""
    new: dict[str, Any] = {}
    download_url = getattr(ctx.store, "download_url", None)  # stores that can hand out links
    for attachment in msg.attachments:
        attachment.storage_key = key = attachment_key(attachment.sha256)
        if download_url is not None:
            attachment._linker = functools.partial(_link, download_url, key)
        new.setdefault(attachment.storage_key, attachment)
    ctx.store.put_new({key: attachment.read() for key, attachment in new.items()})


def _link(download_url: Any, key: str, expires: int) -> str:
    return str(download_url(key, expires=expires))


def _finish(ctx: context.Context, message_id: str, event: str, **fields: Any) -> None:
    """Timeline event plus the store's `done/<id>` marker that tells reconcile to leave it."""
    ctx.ledger.event(message_id, event, **fields)
    _mark_finished(ctx, message_id, event)


def _mark_finished(ctx: context.Context, message_id: str, event: str) -> None:
    """The store's `done/<id>` marker for reconcile, which only sweeps the S3 and file stores
    (with the Redis store raw bytes and job commit together, so there is nothing to sweep)."""
    if isinstance(ctx.store, RedisStore):
        return
    try:
        ctx.store.put(done_key(message_id), event.encode())
    except StoreError as exc:  # the RQ job record still says done; reconcile checks it first
        log_event(logger, "message.marker_failed", level=logging.WARNING, id=message_id,
                  error=str(exc))  # fmt: skip


def _dead(ctx: context.Context, message_id: str, exc: BaseException) -> None:
    reason = _last_line(exc)
    _finish(ctx, message_id, "dead", reason=reason)
    log_event(logger, "message.dead", level=logging.ERROR, id=message_id, reason=reason)
    worker_metrics.job_outcome("dead")


def _attempt(job: Job | None, retries: int) -> int:
    if job is None or job.retries_left is None:
        return 1
    return max(1, retries - job.retries_left + 1)


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__
