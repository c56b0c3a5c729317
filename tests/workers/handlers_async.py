"""Handlers for the worker tests of `async def` handlers: they record which loop ran them and
overrun the time limit on demand, next to a plain handler doing the same."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mailbus import Router

router = Router()
calls: list[tuple[str, str, int | None]] = []  # (handler, message id, id of the running loop)
overruns: dict[str, int] = {}  # handler -> attempts that still overrun the time limit
cancelled: list[str] = []


def _record(name: str, msg: Any, loop: int | None = None) -> bool:
    """Record the call; True when this attempt should overrun."""
    calls.append((name, msg.id, loop))
    if overruns.get(name, 0) > 0:
        overruns[name] -= 1
        return True
    return False


@router.route(to="async@example.com")
async def fetch(msg: Any) -> None:
    await asyncio.sleep(0.01)
    _record("fetch", msg, id(asyncio.get_running_loop()))


@router.route(to="async@example.com")
def plain(msg: Any) -> None:
    _record("plain", msg)


@router.route(to="slow-async@example.com")
async def slow_async(msg: Any) -> None:
    if _record("slow_async", msg, id(asyncio.get_running_loop())):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append("slow_async")
            raise


@router.route(to="slow-sync@example.com")
def slow_sync(msg: Any) -> None:
    if _record("slow_sync", msg):
        time.sleep(10)


@router.route(to="slow-async@example.com")
@router.route(to="slow-sync@example.com")
async def after_slow(msg: Any) -> None:
    _record("after_slow", msg, id(asyncio.get_running_loop()))
