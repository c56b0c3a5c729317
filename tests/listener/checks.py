"""Recipient checks and a router for the listener's recipient-check tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mailbus import Envelope, Router

router = Router()
asked: list[tuple[str, Envelope]] = []


@router.route(to="support@example.com")
def support(msg: Any) -> None: ...


@router.route(to="reply+{ticket}@example.com", subject="never asked at RCPT")
def reply(msg: Any, ticket: str) -> None: ...


def check(address: str, envelope: Envelope) -> bool | None:
    """Sync: `slow@` sleeps 10 s, `broken@` raises, `unsure@` says None, `known@` exists."""
    asked.append((address, envelope))
    local = address.partition("@")[0]
    if local == "slow":
        time.sleep(10)
    if local == "broken":
        raise ConnectionError("directory down")
    if local == "unsure":
        return None
    return local.startswith("known")


async def async_check(address: str, envelope: Envelope) -> bool | None:
    """Async twin of `check`."""
    asked.append((address, envelope))
    local = address.partition("@")[0]
    if local == "slow":
        await asyncio.sleep(10)
    if local == "broken":
        raise ConnectionError("directory down")
    if local == "unsure":
        return None
    return local.startswith("known")


not_a_function = 42
