"""The `mailbus.auth` verdicts of one message: computed at its first attempt, kept, reused.

They are kept in the delivery's ledger record (written with its next ledger write, so no round
trip of their own) for the dedupe window, and every later attempt or requeue from the
dead-letter registry reads them back with its claim instead of asking DNS again: a DNS change
an hour later never flips a verdict. The first computation is also the timeline event `auth`
that `mailbus show` prints, and it is counted per check and result. Incoming
Authentication-Results that claimed our authserv-id become defects.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from mailbus.auth import AuthResults, authenticate
from mailbus.logs import log_event
from mailbus.message import Defect, InboundMessage
from mailbus.settings import Settings
from workers import metrics as worker_metrics

if TYPE_CHECKING:
    from workers import context

logger = logging.getLogger("mailbus.worker")
FORGED = "forged_authentication_results"


def preload(settings: Settings) -> None:
    """Load dkimpy, pyspf, dnspython and the public suffix list (~0.6 s) at boot, before the
    supervisor forks, so no child pays for them at its first message."""
    if settings.auth:
        importlib.import_module("mailbus.auth.pipeline")


def attach(
    ctx: context.Context, msg: InboundMessage, raw: bytes, digest: str, stored: str | None
) -> None:
    """Set `msg.auth`: the `stored` verdicts, else computed now and kept; add its defects."""
    if not ctx.settings.auth:
        return
    if stored is not None:
        msg.auth = AuthResults.from_dict(json.loads(stored))
    else:
        msg.auth = _compute(ctx, msg, raw)
        ctx.ledger.keep_auth(digest, json.dumps(msg.auth.to_dict()))
    msg.defects.extend(Defect("", FORGED, value[:200]) for value in msg.auth.ignored_headers)


def _compute(ctx: context.Context, msg: InboundMessage, raw: bytes) -> AuthResults:
    settings, envelope = ctx.settings, msg.envelope
    started = time.perf_counter()
    results = authenticate(
        raw,
        client_ip=envelope.peer.rpartition(":")[0].strip("[]"),
        helo=envelope.helo,
        mail_from=envelope.mail_from,
        dns_servers=list(settings.dns_servers) or None,
        authserv_id=settings.hostname or None,
        dns_timeout=settings.dns_timeout,
        budget=settings.auth_timeout,
    )
    auth_ms = round((time.perf_counter() - started) * 1000, 1)
    verdicts: dict[str, Any] = {
        "spf": results.spf.result,
        "dkim": [d.result for d in results.dkim],
        "dmarc": results.dmarc.result,
        "arc": results.arc.result,
        "iprev": results.iprev.result,
    }
    ctx.ledger.note(msg.id, "auth", **verdicts, header=results.header)
    log_event(logger, "message.auth", id=msg.id, auth_ms=auth_ms, **verdicts)
    worker_metrics.auth_results(results)
    return results
