"""mailbus.dispatch (pure) and mailbus.testing.deliver (the handler authors' helper)."""

from __future__ import annotations

from typing import Any

import pytest

from mailbus import NoRouteError, Router
from mailbus.dispatch import dispatch, plan
from mailbus.testing import Delivery, deliver
from tests.workers import handlers_basic
from tests.workers.conftest import EML


def test_plan_names_the_recipients_when_nothing_matches() -> None:
    with pytest.raises(NoRouteError, match="no route matches x@y.test, z@y.test"):
        plan(Router(), ["x@y.test", "z@y.test"])


def test_every_handler_runs_before_the_first_failure_is_raised() -> None:
    router = Router()
    ran: list[str] = []

    @router.route(to="*@example.com")
    def first(msg: Any) -> None:
        ran.append("first")
        raise ValueError("first broke")

    @router.route(to="*@example.com")
    def second(msg: Any) -> None:
        ran.append("second")
        raise KeyError("second broke")

    @router.route(to="*@example.com")
    def third(msg: Any) -> None:
        ran.append("third")

    ok: list[str] = []
    failed: list[str] = []
    with pytest.raises(ValueError, match="first broke"):
        dispatch(plan(router, ["a@example.com"]), object(),
                 on_success=lambda m: ok.append(m.handler.__name__),
                 on_failure=lambda m, e: failed.append(m.handler.__name__))  # fmt: skip
    assert ran == ["first", "second", "third"]
    assert ok == ["third"] and failed == ["first", "second"]


def test_done_handlers_are_skipped_and_fatal_errors_stop_at_once() -> None:
    router = Router()
    ran: list[str] = []

    @router.route(to="*@example.com")
    def slow(msg: Any) -> None:
        ran.append("slow")
        raise TimeoutError("time limit")

    @router.route(to="*@example.com")
    def after(msg: Any) -> None:
        ran.append("after")

    matches = plan(router, ["a@example.com"])
    outcome = dispatch(matches, object(), done=lambda m: m.handler is slow)
    assert [m.handler for m in outcome.skipped] == [slow] and ran == ["after"]
    with pytest.raises(TimeoutError):
        dispatch(matches, object(), fatal=(TimeoutError,))
    assert ran == ["after", "slow"]


def test_deliver_reports_which_handlers_ran_with_which_arguments() -> None:
    delivery = deliver(handlers_basic.router, EML, to="reply+7@example.com")
    assert isinstance(delivery, Delivery)
    assert delivery.ran(handlers_basic.reply) and not delivery.ran(handlers_basic.support)
    assert delivery.kwargs(handlers_basic.reply) == {"ticket": "7"}
    assert delivery.message.subject == "Printer on fire"
    assert delivery.message.envelope.rcpt_tos == ("reply+7@example.com",)
    assert delivery.message.attachments[0].read() == bytes(range(8))


def test_deliver_defaults_the_envelope_to_the_headers() -> None:
    delivery = deliver(handlers_basic.router, EML)
    assert delivery.handlers == [handlers_basic.support, handlers_basic.audit]
    assert delivery.message.envelope.mail_from == "alice@example.org"


def test_deliver_raises_like_the_worker_or_collects_errors() -> None:
    with pytest.raises(NoRouteError):
        deliver(handlers_basic.router, EML, to="nobody@example.com")
    assert deliver(handlers_basic.with_default, EML, to="x@y.test").ran(handlers_basic.fallback)
    handlers_basic.failures["support"] = 2
    with pytest.raises(RuntimeError, match="support failed on purpose"):
        deliver(handlers_basic.router, EML)
    delivery = deliver(handlers_basic.router, EML, raise_errors=False)
    assert [call.name for call, _ in delivery.errors] == ["tests.workers.handlers_basic.support"]
    assert delivery.ran(handlers_basic.audit)


def test_fixture_is_the_deliver_function(mailbus_deliver: Any) -> None:
    assert mailbus_deliver is deliver
