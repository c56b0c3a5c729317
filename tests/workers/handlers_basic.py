"""Handlers for the in-process worker tests: they record calls and fail on demand."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from mailbus import Router

router = Router()
with_default = Router()
calls: list[tuple[str, str, dict[str, Any]]] = []
failures: dict[str, int] = {}
seen: list[Any] = []


def _run(name: str, msg: Any, **kwargs: Any) -> None:
    calls.append((name, msg.id, kwargs))
    seen.append(msg)
    if failures.get(name, 0) > 0:
        failures[name] -= 1
        raise RuntimeError(f"{name} failed on purpose")


@router.route(to="support@example.com")
def support(msg: Any) -> None:
    _run("support", msg)


@router.route(to="support@example.com")
def audit(msg: Any) -> None:
    _run("audit", msg)


@router.route(to="reply+{ticket}@example.com")
def reply(msg: Any, ticket: str) -> None:
    _run("reply", msg, ticket=ticket)


@with_default.route(to="sales@example.com")
def sales(msg: Any) -> None:
    _run("sales", msg)


@with_default.default
def fallback(msg: Any) -> None:
    _run("fallback", msg)


@router.route(to="slow@example.com")
def slow(msg: Any) -> None:
    _run("slow", msg)
    time.sleep(5)


@router.route(to="slow@example.com")
def after_slow(msg: Any) -> None:
    _run("after_slow", msg)


@router.route(to="stop@example.com")
def stopper(msg: Any) -> None:
    """Asks its own worker for a warm stop, as a platform's SIGTERM would, mid-batch."""
    _run("stopper", msg)
    os.kill(os.getpid(), signal.SIGTERM)
