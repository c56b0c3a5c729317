"""Routes with conditions beyond the recipient, `stop`, duplicate registrations and per-recipient
fan-out, through `mailbus.testing.deliver` (the worker's parser, router and dispatch)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mailbus import Router
from mailbus.errors import HandlerLoadError
from mailbus.testing import deliver

EML = (
    b"From: Alice <alice@Example.org>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: Invoice 2026-17 overdue\r\n"
    b"X-Priority: 1 (Highest)\r\n"
    b"X-Mailer: Outlook 16\r\n"
    b"\r\n"
    b"Please pay.\r\n"
)


def names(router: Router, eml: bytes = EML, **kw: Any) -> list[str]:
    return [name.rsplit(".", 1)[1] for name in deliver(router, eml, **kw).names]


def test_each_condition_must_hold() -> None:
    router = Router()

    @router.route(to="support@example.com", sender="*@example.org")
    def by_sender(msg: object) -> None: ...

    @router.route(to="support@example.com", from_=re.compile(r"alice@example\.org"))
    def by_from(msg: object) -> None: ...

    @router.route(to="support@example.com", subject=r"invoice \d+")
    def by_subject(msg: object) -> None: ...

    @router.route(header={"X-Priority": "1*", "x-mailer": re.compile("Outlook")})
    def by_header(msg: object) -> None: ...

    @router.route(to="support@example.com", when=lambda msg: "pay" in msg.text)
    def by_when(msg: object) -> None: ...

    @router.route(to="support@example.com", sender="*@example.org", subject="refund")
    def not_all(msg: object) -> None: ...

    @router.route(to="support@example.com", header={"X-Absent": "*"})
    def header_absent(msg: object) -> None: ...

    ran = names(router, to="support@example.com", mail_from="bob@EXAMPLE.org")
    assert ran == ["by_sender", "by_from", "by_subject", "by_header", "by_when"]
    assert names(router, to="support@example.com", mail_from="bob@else.test") == [
        "by_from", "by_subject", "by_header", "by_when",
    ]  # fmt: skip


def test_null_sender_and_async_when() -> None:
    router = Router()

    async def is_overdue(msg: Any) -> bool:
        return "overdue" in msg.subject

    @router.route(to="*@example.com", sender="<>")
    def bounce(msg: object) -> None: ...

    @router.route(to="*@example.com", when=is_overdue)
    def overdue(msg: object) -> None: ...

    assert names(router, to="a@example.com", mail_from="") == ["bounce", "overdue"]
    assert names(router, to="a@example.com", mail_from="x@example.org") == ["overdue"]


def test_stop_ends_the_routes_and_default_runs_only_when_nothing_matched() -> None:
    router = Router()

    @router.route(to="*@example.com", subject="urgent")
    def urgent(msg: object) -> None: ...

    @router.route(to="vip@example.com", stop=True)
    def vip(msg: object) -> None: ...

    @router.route(to="*@example.com")
    def everyone(msg: object) -> None: ...

    @router.default
    def fallback(msg: object) -> None: ...

    assert names(router, to="vip@example.com") == ["vip"]
    assert names(router, to=["a@example.com", "vip@example.com"]) == ["vip"]
    assert names(router, to="a@example.com") == ["everyone"]
    assert names(router, to="a@elsewhere.test") == ["fallback"]


def test_the_same_function_under_the_same_conditions_twice_is_refused() -> None:
    router = Router()

    def handler(msg: object) -> None: ...

    def check(msg: object) -> bool:
        return True

    router.route(to="a@example.com", subject="x", when=check)(handler)
    router.route(to="a@example.com", subject="y", when=check)(handler)  # other conditions: fine
    router.route(to="b@example.com", subject="x", when=check)(handler)
    with pytest.raises(HandlerLoadError, match=r"handler .*handler is registered twice"):
        router.route(to="a@example.com", subject="x", when=check)(handler)
    with pytest.raises(HandlerLoadError, match="registered twice"):
        router.route(to=re.compile("a"), header={"X-A": "1"})(handler)
        router.route(to=re.compile("a"), header={"X-A": "1"})(handler)


def test_a_when_that_raises_fails_only_its_route_and_still_stops() -> None:
    router = Router()

    def broken(msg: object) -> bool:
        raise ValueError("verdict service down")

    @router.route(to="*@example.com", when=broken, stop=True)
    def gated(msg: object) -> None:
        raise AssertionError("a when= that raised never calls its handler")

    @router.route(to="*@example.com")
    def later(msg: object) -> None: ...

    other = Router()
    other.route(to="*@example.com", when=broken)(gated)
    other.route(to="*@example.com")(later)

    with pytest.raises(ValueError, match="verdict service down"):
        deliver(router, EML, to="a@example.com")
    delivery = deliver(other, EML, to="a@example.com", raise_errors=False)
    assert [c.name.rsplit(".", 1)[1] for c in delivery.calls] == ["gated", "later"]
    ((call, error),) = delivery.errors
    assert call.handler is gated and isinstance(error, ValueError)


def test_a_capturing_route_runs_once_per_distinct_capture_set() -> None:
    router = Router()

    @router.route(to="reply+{ticket}@example.com")
    def reply(msg: object, ticket: str) -> None: ...

    @router.route(to=re.compile(r"(?P<team>\w+)@teams\.example\.com"))
    def team(msg: object, team: str) -> None: ...

    @router.route(to="*@example.com")
    def once(msg: object) -> None: ...

    to = ["reply+41@example.com", "REPLY+42@example.com", "reply+41@example.com",
          "ops@teams.example.com"]  # fmt: skip
    delivery = deliver(router, EML, to=to)
    assert [(c.recipient, c.kwargs) for c in delivery.runs(reply)] == [
        ("reply+41@example.com", {"ticket": "41"}),
        ("REPLY+42@example.com", {"ticket": "42"}),
    ]
    assert [c.recipient for c in delivery.runs(once)] == ["reply+41@example.com"]
    assert delivery.kwargs(team) == {"team": "ops"}
    matches = router.match(to)
    assert [m.key.rsplit(".", 1)[1] for m in matches] == [
        "reply(ticket='41')", "reply(ticket='42')", "team(team='ops')", "once",
    ]  # fmt: skip


def test_the_same_function_on_two_routes_runs_once_per_capture_set() -> None:
    router = Router()

    def handler(msg: object) -> None: ...

    router.route(to="a@example.com")(handler)
    router.route(to="*@example.com")(handler)
    assert len(router.match(["a@example.com"])) == 1


def test_accepts_asks_only_the_recipient_patterns() -> None:
    router = Router()
    router.route(to="reply+{t}@example.com", subject="never")(lambda msg, t: None)
    assert router.accepts("reply+1@EXAMPLE.com")
    assert not router.accepts("other@example.com")
    router.default(lambda msg: None)
    assert router.accepts("other@example.com")
