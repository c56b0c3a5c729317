"""Handlers for the end-to-end tests: each call appends what it received as one JSON line.

The output file and the failure switch come from the environment at call time, so the test that
starts the worker process decides where the record goes and whether the handler fails.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from mailbus import InboundMessage, Router

router = Router()


@router.route(to="*@example.com")
def record(msg: InboundMessage) -> None:
    if Path(os.environ.get("E2E_FAIL_FLAG", "/nonexistent")).exists():
        raise RuntimeError("handler told to fail by the test")
    line = {
        "id": msg.id,
        "subject": msg.subject,
        "from": msg.from_.email if msg.from_ else None,
        "mail_from": msg.envelope.mail_from,
        "rcpt_tos": list(msg.envelope.rcpt_tos),
        "text": msg.text,
        "raw_sha256": hashlib.sha256(msg.raw.read()).hexdigest(),
        "attachments": [
            {"filename": a.filename, "sha256": a.sha256, "size": a.size, "key": a.storage_key}
            for a in msg.attachments
        ],
    }
    with open(os.environ["E2E_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
