"""Handlers for the router tests against a real Redis: fan-out, conditions, `stop`, a `when=`
that fails on demand, and `msg.raw.read()`; sync and async alike."""

from __future__ import annotations

from typing import Any

from mailbus import Router

router = Router()
calls: list[tuple[str, str, dict[str, Any]]] = []
failures: dict[str, int] = {}  # "name" or "name:value": how many more calls fail
raws: list[bytes] = []


def _run(name: str, msg: Any, **kwargs: Any) -> None:
    calls.append((name, msg.id, kwargs))
    for key in (name, *(f"{name}:{value}" for value in kwargs.values())):
        if failures.get(key, 0) > 0:
            failures[key] -= 1
            raise RuntimeError(f"{key} failed on purpose")


def gate(msg: Any) -> bool:
    if failures.get("gate", 0) > 0:
        failures["gate"] -= 1
        raise RuntimeError("gate failed on purpose")
    return "gated" in msg.subject


@router.route(to="reply+{ticket}@example.com")
def reply(msg: Any, ticket: str) -> None:
    _run("reply", msg, ticket=ticket)


@router.route(to="areply+{ticket}@example.com")
async def areply(msg: Any, ticket: str) -> None:
    _run("areply", msg, ticket=ticket)


@router.route(to="*@example.com", when=gate, stop=True)
async def gated(msg: Any) -> None:
    _run("gated", msg)


@router.route(to="*@example.com", subject="raw")
def raw(msg: Any) -> None:
    raws.append(msg.raw.read())
    _run("raw", msg)


@router.route(to="*@example.com")
def everyone(msg: Any) -> None:
    _run("everyone", msg)
