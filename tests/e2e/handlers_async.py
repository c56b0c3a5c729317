"""Handlers for the end-to-end test of async handlers and internationalised routes: a route
written with the Unicode domain, an `async def` handler recording the process and event loop
it ran on, and a plain handler beside it; each call appends one JSON line to E2E_OUTPUT."""

from __future__ import annotations

import asyncio
import json
import os

from mailbus import InboundMessage, Router

router = Router()


def _write(handler: str, msg: InboundMessage, **extra: object) -> None:
    line = {"handler": handler, "id": msg.id, "rcpt_tos": list(msg.envelope.rcpt_tos), **extra}
    with open(os.environ["E2E_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


@router.route(to="info@bücher.example")
async def info(msg: InboundMessage) -> None:
    await asyncio.sleep(0.01)
    _write("info", msg, pid=os.getpid(), loop=id(asyncio.get_running_loop()))


@router.route(to="info@bücher.example")
def audit(msg: InboundMessage) -> None:
    _write("audit", msg)
