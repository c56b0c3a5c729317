from __future__ import annotations

import functools
import re
import sys
import types
from pathlib import Path

import pytest

from mailbus import Router
from mailbus.errors import HandlerLoadError
from mailbus.router import handler_name, load_router


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


def test_a_handler_that_cannot_take_its_routes_arguments_is_refused_when_registered() -> None:
    router = Router()

    def no_ticket(msg: object) -> None: ...

    def wants_user(msg: object, *, user: str) -> None: ...

    def no_message() -> None: ...

    def number_only(msg: object, number: str) -> None: ...

    here = handler_name(no_ticket).rsplit(".", 1)[0]  # module.qualname of this test's locals
    cases = [
        ("reply+{ticket}@example.com", no_ticket, "no_ticket.*ticket"),
        (re.compile(r"t-(?P<number>\d+)-(?P<part>\d)@x\.test"), number_only, "number_only.*part"),
        ("a@example.com", wants_user, "wants_user.*user"),
        ("a@example.com", no_message, "no_message.*too many positional"),
    ]
    for to, handler, message in cases:
        with pytest.raises(HandlerLoadError, match=f"handler {re.escape(here)}\\.{message}"):
            router.route(to=to)(handler)
    with pytest.raises(HandlerLoadError, match="wants_user"):
        router.default(wants_user)
    with pytest.raises(HandlerLoadError, match="42 is not callable"):
        router.route(to="a@example.com")(42)  # type: ignore[type-var]
    assert router.routes == [] and router.default_handler is None


def test_generator_handlers_are_refused_because_their_body_would_never_run() -> None:
    router = Router()

    def generator(msg: object):  # type: ignore[no-untyped-def]
        yield msg

    async def async_generator(msg: object):  # type: ignore[no-untyped-def]
        yield msg

    for handler in (generator, async_generator):
        with pytest.raises(HandlerLoadError, match=f"{handler.__name__} is a.*generator"):
            router.route(to="a@example.com")(handler)


def test_handlers_that_can_take_their_arguments_are_accepted() -> None:
    router = Router()

    class Callable:
        def __call__(self, msg: object, **kwargs: str) -> None: ...

    async def async_handler(msg: object, /, ticket: str, extra: str = "") -> None: ...

    def catch_all(*args: object, **kwargs: object) -> None: ...

    router.route(to="reply+{ticket}@example.com")(async_handler)
    router.route(to=re.compile(r"(?P<a>.)(?P<b>.)?@example\.com"))(Callable())
    router.route(to="reply+{ticket}@example.com")(catch_all)
    router.default(functools.partial(catch_all, "bound"))
    router.route(to="a@example.com")(print)  # a builtin: checked as far as Python can
    assert len(router.routes) == 4


def test_load_router_names_the_path_and_the_handler_that_does_not_fit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "bad_handlers.py").write_text(
        "from mailbus import Router\n"
        "router = Router()\n"
        "@router.route(to='reply+{ticket}@example.com')\n"
        "async def reply(msg):\n"
        "    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(HandlerLoadError, match=r"'bad_handlers:router'.*bad_handlers\.reply"):
        load_router("bad_handlers:router")
