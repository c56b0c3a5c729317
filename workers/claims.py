"""Which ledger record a copy of a message uses (see workers.ledger), and holding its claim.

A copy claims the digest while it reads what the ledger knows, so concurrent copies of one
message (another id with the same digest, or the same job pushed twice) wait instead of running
the handlers again. A copy without a Message-ID then trades that claim for the claim on its own
transmission's record: identical messages run side by side, and only the copy the listener
stored without a 250 and the sender's resend of it wait for each other.
"""

from __future__ import annotations

import time

from rq.job import Job

from mailbus.envelope import Envelope
from mailbus.rqseam.layout import worker_alive
from mailbus.trace import has_message_id
from workers import context
from workers.ledger import DeliveryBusy, DeliveryRecord, Found, delivery_key

CLAIM_WAIT = 30.0


def claim(
    ctx: context.Context, job: Job | None, digest: str, message_id: str, fetch: str | None
) -> tuple[str, Found, bytes | None]:
    """Hold the delivery while we run, so a concurrent duplicate (another id with the same
    digest, or the same job id pushed twice) waits instead of running the handlers again;
    return our claim token, what the ledger knows (read while holding it), and the Redis key
    `fetch` read in the same round trip when the claim was free (else None)."""
    token = f"{message_id} {job.worker_name if job is not None and job.worker_name else '-'}"
    found, fetched = ctx.ledger.claim_and_read(digest, token, _claim_ttl(ctx), fetch=fetch)
    if found is not None:
        return token, found, fetched
    _wait_for_claim(ctx, digest, token)
    return token, ctx.ledger.read(digest), None


def delivery(
    ctx: context.Context,
    token: str,
    digest: str,
    message_id: str,
    found: Found,
    raw: bytes,
    envelope: Envelope,
) -> tuple[str, DeliveryRecord]:
    """The ledger record this copy shares with the other copies of the same message, and its
    key (see workers.ledger): the digest's with a Message-ID or a provider's id (the ingress puts
    it in the digest, so equal digests are that provider's retry), else its transmission's, whose
    claim we then hold instead of the digest's."""
    if has_message_id(raw) or envelope.source_id:
        return digest, found.shared
    key = delivery_key(digest, found.resend_of or message_id)
    record = ctx.ledger.move_claim(digest, key, token, _claim_ttl(ctx))
    if record is None:
        _wait_for_claim(ctx, key, token)
        record = ctx.ledger.record(key)
    return key, record


def _claim_ttl(ctx: context.Context) -> int:
    return ctx.settings.job_timeout + 60


def _wait_for_claim(ctx: context.Context, key: str, token: str) -> None:
    """Wait for the claim on `key` while a live job holds it (a dead one's is taken over)."""
    deadline = time.monotonic() + min(CLAIM_WAIT, ctx.settings.job_timeout / 2)
    message_id = token.partition(" ")[0]

    def stale(holder: str) -> bool:
        holder_id, _, worker = holder.partition(" ")
        if worker in ("", "-"):
            return holder_id == message_id
        return not worker_alive(ctx.connection, worker)

    while (holder := ctx.ledger.claim(key, token, _claim_ttl(ctx), stale=stale)) is not None:
        if time.monotonic() > deadline:
            raise DeliveryBusy(f"delivery {key[:16]} is being processed by {holder}")
        time.sleep(0.2)
