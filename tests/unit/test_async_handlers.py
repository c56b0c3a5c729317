"""`async def` handlers in mailbus.dispatch and mailbus.testing.deliver: run to completion on the
process's one loop, with the same retry isolation and failure report as plain handlers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mailbus import Router
from mailbus.dispatch import dispatch, plan
from mailbus.testing import deliver
from tests.workers.conftest import EML


def test_an_async_handler_runs_to_completion_with_its_kwargs() -> None:
    router = Router()
    done: list[tuple[str, str]] = []

    @router.route(to="reply+{ticket}@example.com")
    async def reply(msg: Any, ticket: str) -> None:
        await asyncio.sleep(0.01)
        done.append((msg, ticket))

    outcome = dispatch(plan(router, ["reply+7@example.com"]), "the message")
    assert done == [("the message", "7")]
    assert [m.handler for m in outcome.ran] == [reply]


def test_sync_and_async_mix_and_only_the_failing_one_is_reported() -> None:
    router = Router()
    ran: list[str] = []
    failures = [1]

    @router.route(to="*@example.com")
    async def broken(msg: Any) -> None:
        await asyncio.sleep(0)
        ran.append("broken")
        if failures.pop() if failures else 0:
            raise ValueError("async broke")

    @router.route(to="*@example.com")
    def plain(msg: Any) -> None:
        ran.append("plain")

    @router.route(to="*@example.com")
    async def fine(msg: Any) -> None:
        await asyncio.sleep(0)
        ran.append("fine")

    ok: list[str] = []
    failed: list[tuple[str, str]] = []
    with pytest.raises(ValueError, match="async broke"):
        dispatch(plan(router, ["a@example.com"]), object(),
                 on_success=lambda m: ok.append(m.handler.__name__),
                 on_failure=lambda m, e: failed.append((m.handler.__name__, str(e))))  # fmt: skip
    assert ran == ["broken", "plain", "fine"]
    assert ok == ["plain", "fine"] and failed == [("broken", "async broke")]
    # the retry: what succeeded is done, only the async failure runs again
    outcome = dispatch(plan(router, ["a@example.com"]), object(),
                       done=lambda m: m.handler.__name__ in ok)  # fmt: skip
    assert ran == ["broken", "plain", "fine", "broken"]
    assert [m.handler for m in outcome.ran] == [broken]
    assert [m.handler for m in outcome.skipped] == [plain, fine]


def test_a_sync_function_returning_a_coroutine_is_awaited() -> None:
    router = Router()
    done: list[str] = []

    async def work(msg: Any) -> None:
        done.append(msg)

    @router.route(to="*@example.com")
    def wrapper(msg: Any) -> Any:
        return work(msg)

    dispatch(plan(router, ["a@example.com"]), "m")
    assert done == ["m"]


def test_async_handlers_share_one_loop_across_calls() -> None:
    router = Router()
    loops: list[int] = []

    @router.route(to="*@example.com")
    async def record(msg: Any) -> None:
        loops.append(id(asyncio.get_running_loop()))

    for _ in range(3):
        dispatch(plan(router, ["a@example.com"]), object())
    assert len(loops) == 3 and len(set(loops)) == 1


def test_deliver_runs_async_handlers_and_reports_their_errors() -> None:
    router = Router()
    subjects: list[str] = []

    @router.route(to="support@example.com")
    async def support(msg: Any) -> None:
        await asyncio.sleep(0)
        subjects.append(msg.subject)

    @router.route(to="support@example.com")
    async def audit(msg: Any) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("audit is down")

    delivery = deliver(router, EML, raise_errors=False)
    assert subjects == ["Printer on fire"]
    assert delivery.ran(support) and delivery.ran(audit)
    assert [(call.handler, str(exc)) for call, exc in delivery.errors] == [(audit, "audit is down")]
    with pytest.raises(RuntimeError, match="audit is down"):
        deliver(router, EML)
