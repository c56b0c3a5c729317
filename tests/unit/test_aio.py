"""mailbus.aio under RQ's real time limit (SIGALRM raising JobTimeoutException in this thread):
the handler's task is cancelled, the exception reaches the caller, and the loop stays usable."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty

from mailbus import aio

FATAL = (JobTimeoutException,)


def idle(loop: asyncio.AbstractEventLoop) -> bool:
    return not loop.is_running() and not asyncio.all_tasks(loop)


def test_time_limit_while_awaiting_cancels_the_handler_and_the_loop_carries_on() -> None:
    seen: list[str] = []

    async def sleepy(msg: Any) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    started = time.monotonic()
    with pytest.raises(JobTimeoutException):
        with UnixSignalDeathPenalty(1, JobTimeoutException, job_id="t"):
            aio.call(sleepy, None, {}, fatal=FATAL)
    assert time.monotonic() - started < 3
    assert seen == ["cancelled"]
    loop = aio.loop()
    assert idle(loop)

    async def fine(msg: Any, n: str) -> tuple[int, str]:
        await asyncio.sleep(0)
        return id(asyncio.get_running_loop()), n

    assert aio.call(fine, None, {"n": "2"}) == (id(loop), "2")
    assert idle(loop)


def test_time_limit_inside_the_handlers_code_is_its_exception() -> None:
    async def busy(msg: Any) -> None:
        await asyncio.sleep(0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # CPU-bound: the alarm lands in this frame
            pass

    with pytest.raises(JobTimeoutException):
        with UnixSignalDeathPenalty(1, JobTimeoutException, job_id="t"):
            aio.call(busy, None, {}, fatal=FATAL)
    assert idle(aio.loop())


def test_time_limit_landing_in_a_loop_callback_is_not_swallowed() -> None:
    """asyncio logs and drops exceptions raised in callbacks; a fatal one must stop the job."""
    seen: list[str] = []

    def alarm() -> None:  # what the signal handler does when it interrupts a callback
        raise JobTimeoutException("Task exceeded maximum timeout value (1 seconds)")

    async def handler(msg: Any) -> None:
        asyncio.get_running_loop().call_soon(alarm)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    started = time.monotonic()
    with pytest.raises(JobTimeoutException, match="maximum timeout"):
        aio.call(handler, None, {}, fatal=FATAL)
    assert time.monotonic() - started < 3 and seen == ["cancelled"]
    assert idle(aio.loop())


def test_tasks_a_handler_leaves_behind_are_cancelled_when_it_returns() -> None:
    seen: list[str] = []

    async def orphan() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            seen.append("orphan cleaned up")

    async def handler(msg: Any) -> str:
        asyncio.get_running_loop().create_task(orphan())
        await asyncio.sleep(0)
        return "ok"

    assert aio.call(handler, None, {}) == "ok"
    assert seen == ["orphan cleaned up"] and idle(aio.loop())


def test_plain_handlers_are_called_directly() -> None:
    assert aio.call(lambda msg, **kw: (msg, kw), "m", {"a": "1"}) == ("m", {"a": "1"})


def test_called_from_inside_a_running_loop_it_says_how_to_call_it() -> None:
    async def handler(msg: Any) -> None: ...

    async def async_test() -> None:
        aio.call(handler, None, {})

    with pytest.raises(RuntimeError, match="from a plain def test"):
        asyncio.run(async_test())
    assert idle(aio.loop())
