"""Handlers for the tests that run `workers.pool` in subprocesses; they log each call as one JSON
line to the file named by MAILBUS_TEST_OUT so the test process can see what happened."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from mailbus import Router

router = Router()


def _calls(name: str, msg_id: str) -> int:
    path = Path(os.environ["MAILBUS_TEST_OUT"])
    if not path.exists():
        return 0
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sum(1 for line in lines if line["handler"] == name and line["id"] == msg_id)


def _log(name: str, msg: Any, **extra: Any) -> int:
    before = _calls(name, msg.id)
    line = {"handler": name, "id": msg.id, "pid": os.getpid(), "n": before + 1, **extra}
    with open(os.environ["MAILBUS_TEST_OUT"], "a") as out:
        out.write(json.dumps(line) + "\n")
        out.flush()
    return before + 1


@router.route(to="flaky@example.com")
def flaky(msg: Any) -> None:
    if _log("flaky", msg) <= 2:
        raise RuntimeError("flaky fails on its first two calls")


@router.route(to="flaky@example.com")
def steady(msg: Any) -> None:
    _log("steady", msg, subject=msg.subject)


@router.route(to="slow@example.com")
def slow(msg: Any) -> None:
    if _log("slow", msg) == 1:
        time.sleep(30)  # the test SIGKILLs this process meanwhile


@router.route(to="poison@example.com")
def poison(msg: Any) -> None:
    _log("poison", msg)
    os.kill(os.getpid(), signal.SIGKILL)


@router.route(to="sleepy@example.com")
def sleepy(msg: Any) -> None:
    _log("sleepy", msg)
    time.sleep(2)
    _log("sleepy-done", msg)


@router.default
def anything(msg: Any) -> None:
    _log("default", msg)


@router.route(to="hog@example.com")
def hog(msg: Any) -> None:
    _log("hog", msg)
    hoard = bytearray(1024 * 1024 * 1024)  # over MAILBUS_WORKER_MEMORY_LIMIT in the test
    _log("hog-survived", msg, size=len(hoard))


@router.route(to="fast@example.com")
def fast(msg: Any) -> None:
    _log("fast", msg)
