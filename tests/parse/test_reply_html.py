"""`msg.stripped_html`: the HTML reply without the quoted message, for each big client's markup."""

from __future__ import annotations

import pytest

from mailbus.parse import parse

REPLY = '<div dir="ltr">Sounds good, see you at 3.</div>'
QUOTES = {
    "gmail": '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Jan 8, 2024 at '
    '10:15 AM Alice &lt;alice@example.com&gt; wrote:<br></div><blockquote class="gmail_quote" '
    'style="margin:0px 0px 0px 0.8ex">Can we meet?</blockquote></div>',
    "apple": '<div><br><blockquote type="cite"><div>On Jan 8, 2024, at 10:15, Alice wrote:</div>'
    "<div>Can we meet?</div></blockquote></div>",
    "thunderbird": '<div class="moz-cite-prefix">On 08/01/2024 10:15, Alice wrote:<br></div>'
    '<blockquote type="cite" cite="mid:m0@example.com">Can we meet?</blockquote>',
    "outlook": '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
    '<p class="MsoNormal"><b>From:</b> Alice<br><b>Sent:</b> Monday</p></div><p>Can we meet?</p>',
    "outlook-web": '<div id="appendonsend"></div><hr style="display:inline-block;width:98%" '
    'tabindex="-1"><div id="divRplyFwdMsg" dir="ltr"><b>From:</b> Alice</div><div>Can we?</div>',
    "yahoo": '<div class="yahoo_quoted"><div>On Monday, Alice wrote:</div><div>Can we?</div></div>',
}


def _html(body: str) -> bytes:
    head = b"Subject: Re: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    return head + f"<html><body>{body}</body></html>".encode()


@pytest.mark.parametrize("client", QUOTES)
def test_quoted_message_is_cut(client: str) -> None:
    msg = parse(_html(REPLY + "\n" + QUOTES[client]))
    assert msg.stripped_html is not None
    assert msg.stripped_html.startswith("<html><body>" + REPLY)
    assert "Can we" not in msg.stripped_html and "Alice" not in msg.stripped_html


def test_forward_keeps_the_forwarded_message() -> None:
    fwd = (
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">---------- Forwarded '
        "message ---------<br>From: Carol</div><div>Pay invoice 42.</div></div>"
    )
    msg = parse(_html("FYI" + fwd))
    assert msg.stripped_html == msg.html


def test_bottom_post_and_plain_html_are_kept_whole() -> None:
    bottom = parse(_html(QUOTES["gmail"] + "<div>Yes.</div>"))
    assert bottom.stripped_html == bottom.html
    plain = parse(_html(REPLY))
    assert plain.stripped_html == plain.html
    assert parse(b"Subject: x\r\n\r\ntext only\r\n").stripped_html is None
