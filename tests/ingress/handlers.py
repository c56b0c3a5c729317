"""The handler behind the ingress tests: one JSON line per call, with where the message came
from, so a test sees that HTTP-delivered mail reaches handlers like SMTP mail."""

from __future__ import annotations

import hashlib
import json
import os

from mailbus import InboundMessage, Router

router = Router()


@router.route(to="*")
def record(msg: InboundMessage) -> None:
    line = {
        "id": msg.id,
        "source": msg.envelope.source,
        "source_id": msg.envelope.source_id,
        "mail_from": msg.envelope.mail_from,
        "rcpt_tos": list(msg.envelope.rcpt_tos),
        "subject": msg.subject,
        "text": msg.text,
        "attachments": [hashlib.sha256(a.read()).hexdigest() for a in msg.attachments],
    }
    with open(os.environ["E2E_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
