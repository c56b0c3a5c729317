from __future__ import annotations

import re
import sys
import types

import pytest

from mailbus import Router
from mailbus.errors import HandlerLoadError
from mailbus.router import load_router


def test_decorators_return_the_function_unchanged() -> None:
    router = Router()

    def handler(msg: object) -> str:
        return "called"

    assert router.route(to="a@example.com")(handler) is handler
    assert router.default(handler) is handler


def test_glob_regex_and_placeholders() -> None:
    router = Router()

    @router.route(to="support@example.com")
    def support(msg: object) -> None: ...

    @router.route(to="*@billing.example.com")
    def billing(msg: object) -> None: ...

    @router.route(to=re.compile(r"ticket-(?P<number>\d+)@example\.com"))
    def ticket(msg: object, number: str) -> None: ...

    @router.route(to="reply+{token}@example.com")
    def reply(msg: object, token: str) -> None: ...

    assert [m.handler for m in router.match(["SUPPORT@example.com"])] == [support]
    assert [m.handler for m in router.match(["x@billing.example.com"])] == [billing]
    (match,) = router.match(["ticket-42@example.com"])
    assert (match.handler, match.kwargs, match.recipient) == (
        ticket,
        {"number": "42"},
        "ticket-42@example.com",
    )
    (match,) = router.match(["reply+abc123@example.com"])
    assert match.kwargs == {"token": "abc123"}
    assert router.match(["nobody@example.com"]) == []
    assert router.match(["support@example.com.evil.org"]) == []


def test_every_matching_handler_once_then_default_only_when_none_match() -> None:
    router = Router()

    @router.route(to="*@example.com")
    def everything(msg: object) -> None: ...

    @router.route(to="sales@example.com")
    def sales(msg: object) -> None: ...

    @router.default
    def fallback(msg: object) -> None: ...

    matches = router.match(["sales@example.com", "other@example.com"])
    assert [m.handler for m in matches] == [everything, sales]
    assert [m.handler for m in router.match(["x@elsewhere.org"])] == [fallback]


def test_load_router_names_the_path_when_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("fake_handlers")
    module.router = Router()  # type: ignore[attr-defined]
    module.not_a_router = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_handlers", module)
    assert load_router("fake_handlers:router") is module.router  # type: ignore[attr-defined]
    with pytest.raises(HandlerLoadError, match="'no_such_module:router'.*cannot import"):
        load_router("no_such_module:router")
    with pytest.raises(HandlerLoadError, match="fake_handlers.not_a_router is int"):
        load_router("fake_handlers:not_a_router")
    with pytest.raises(HandlerLoadError, match="fake_handlers.missing is nothing"):
        load_router("fake_handlers:missing")
