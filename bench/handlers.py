"""The worker bench's handlers module (MAILBUS_HANDLERS=bench.handlers:router).

One default route whose handler does nothing, so the bench measures the worker's own cost:
fetch, parse, attachment storage, routing, the ledger and RQ's bookkeeping.
"""

from __future__ import annotations

from mailbus import InboundMessage, Router

router = Router()


@router.default
def discard(msg: InboundMessage) -> None:
    """Take every message and keep nothing."""
