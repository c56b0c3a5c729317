"""One canonical form of a domain (lower case, A-label, no trailing dot) for routes, the
listener's served domains and the delivery digest, so `bücher.example` and its `xn--` form
(the one most MTAs send) are the same domain everywhere."""

from __future__ import annotations

import re

import pytest

from mailbus import Router
from mailbus.envelope import Envelope
from mailbus.trace import delivery_digest

UNICODE, ACE = "bücher.example", "xn--bcher-kva.example"


def test_canonical_domain_is_the_lower_case_a_label() -> None:
    from mailbus.domains import canonical_domain

    assert canonical_domain(UNICODE) == canonical_domain(ACE) == ACE
    assert canonical_domain("BÜCHER.Example.") == canonical_domain("XN--BCHER-KVA.example") == ACE
    # UTS-46 non-transitional (IDNA 2008), what current MTAs send: ß is not "ss"
    assert canonical_domain("straße.example") == "xn--strae-oqa.example"
    assert canonical_domain("bücher。example") == ACE  # an ideographic full stop is a dot
    assert canonical_domain("mail_1.Example.COM") == "mail_1.example.com"
    for bad in ("", "a..b", "-a.example", "a" * 64 + ".example", "bü cher.example", "☃\u200d.x"):
        assert canonical_domain(bad) is None, bad


def test_canonical_address_keeps_the_local_part() -> None:
    from mailbus.domains import canonical_address

    assert canonical_address("Info+X@BÜCHER.example") == "Info+X@" + ACE
    assert canonical_address("Info+X@" + ACE.upper()) == "Info+X@" + ACE
    assert canonical_address("postmaster") == "postmaster"
    assert canonical_address("u@[192.0.2.1]") == "u@[192.0.2.1]"
    assert canonical_address("u@not a domain") == "u@not a domain"  # left as it is, not lost


@pytest.mark.parametrize(("route", "recipient"), [(UNICODE, ACE), (ACE, UNICODE)])
def test_a_route_matches_either_form_of_its_domain(route: str, recipient: str) -> None:
    router = Router()

    @router.route(to=f"info@{route}")
    def info(msg: object) -> None: ...

    @router.route(to=f"reply+{{Ticket}}@{route}")
    def reply(msg: object, Ticket: str) -> None: ...  # noqa: N803

    @router.route(to=f"*@*.{route}")
    def sub(msg: object) -> None: ...

    @router.route(to=re.compile(rf"(?P<user>[^@]+)@{re.escape(route)}"))
    def regex(msg: object, user: str) -> None: ...

    (first, second) = router.match([f"info@{recipient.upper()}"])
    assert (first.handler, second.handler) == (info, regex)
    assert first.recipient == f"info@{recipient.upper()}", "the recipient as the envelope said"
    assert second.kwargs == {"user": "info"}
    (match, _) = router.match([f"reply+AbC@{recipient}"])
    assert (match.handler, match.kwargs) == (reply, {"Ticket": "AbC"})
    assert [m.handler for m in router.match([f"x@mail.{recipient}"])] == [sub]
    assert router.match([f"info@{recipient}.evil.test"]) == []


def test_a_wildcard_inside_a_non_ascii_label_is_refused() -> None:
    from mailbus.errors import HandlerLoadError

    with pytest.raises(HandlerLoadError, match="bü\\*cher"):
        Router().route(to="info@bü*cher.example")


def test_the_delivery_digest_is_the_same_for_either_form() -> None:
    received = b"Subject: hi\r\n\r\nbody\r\n"
    one = Envelope(mail_from=f"a@{UNICODE}", rcpt_tos=(f"info@{UNICODE}", "x@example.com"))
    other = Envelope(mail_from=f"a@{ACE.upper()}.", rcpt_tos=("x@EXAMPLE.com", f"info@{ACE}"))
    assert delivery_digest(received, one) == delivery_digest(received, other)
    local = Envelope(mail_from=f"a@{UNICODE}", rcpt_tos=(f"INFO@{UNICODE}", "x@example.com"))
    assert delivery_digest(received, one) != delivery_digest(received, local)
