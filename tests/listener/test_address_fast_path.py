"""The plain-address fast path in `SmtpProtocol._getaddr` answers exactly as aiosmtpd's parser."""

from __future__ import annotations

import asyncio

import pytest
from aiosmtpd.smtp import SMTP

from listener.protocol import SmtpProtocol

ARGS = [
    "<a@b.com>",
    "<a@b.com> SIZE=100 BODY=8BITMIME",
    " <first.last+tag@sub.example.co.uk>",
    "<a..b@x.com>",
    "<.a@x.com>",
    '<"q"@x.com>',
    "<a@[1.2.3.4]>",
    "a@b.com",
    "<>",
    "<a@-x.com>",
    "<é@x.com>",
    "<@route:a@b.com>",
    "<a@b.com>(comment) SIZE=1",
    "<a@b.com>\tSIZE=1",
    "<A_B-c@X-Y.example>",
    "<a@b.com.>",
    "<a@b>",
    "<a@b.com",
    "",
]


@pytest.mark.parametrize("arg", ARGS)
def test_fast_path_agrees_with_aiosmtpd(arg: str) -> None:
    async def both() -> tuple[object, object]:
        session = type("Probe", (SmtpProtocol,), {})(object(), hostname="x")
        return SmtpProtocol._getaddr(session, arg), SMTP._getaddr(session, arg)

    ours, theirs = asyncio.run(both())
    assert ours == theirs
