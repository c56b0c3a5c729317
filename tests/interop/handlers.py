"""The interop suite's handler: every call appends what it saw as one JSON line.

It records the envelope as the listener saw it (TLS, SMTPUTF8, MAIL options) next to the parsed
message, so a test can tell how an outside client actually delivered its mail. The output file
comes from the environment at call time (`E2E_OUTPUT`), set by the test that starts the worker.
"""

from __future__ import annotations

import json
import os

from mailbus import InboundMessage, Router

router = Router()


@router.route(to="*")
def record(msg: InboundMessage) -> None:
    bounce = msg.classification.bounce
    line = {
        "id": msg.id,
        "subject": msg.subject,
        "from": msg.from_.email if msg.from_ else None,
        "mail_from": msg.envelope.mail_from,
        "rcpt_tos": list(msg.envelope.rcpt_tos),
        "tls": msg.envelope.tls,
        "smtputf8": msg.envelope.smtputf8,
        "mail_options": list(msg.envelope.mail_options),
        "text": msg.text,
        "attachments": [
            {"filename": a.filename, "sha256": a.sha256, "size": a.size} for a in msg.attachments
        ],
        "bounce": [r.status for r in bounce.recipients] if bounce else None,
    }
    with open(os.environ["E2E_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
