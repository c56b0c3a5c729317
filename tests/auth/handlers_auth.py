"""The end-to-end handler: writes the verdicts it was given, and its defects, as a JSON line."""

from __future__ import annotations

import json
import os

from mailbus import InboundMessage, Router

router = Router()


@router.route(to="*@example.com")
def record(msg: InboundMessage) -> None:
    line = {"id": msg.id, "auth": msg.auth.to_dict(), "defects": [d.kind for d in msg.defects]}
    with open(os.environ["E2E_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


@router.route(to="*@example.com", when=lambda msg: msg.auth.dmarc.result == "pass")
def trusted(msg: InboundMessage) -> None:
    """Gated on the verdict, as the README shows: runs only for a genuine From: domain."""
    with open(os.environ["E2E_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(
            json.dumps({"id": msg.id, "trusted": msg.from_.email if msg.from_ else ""}) + "\n"
        )
