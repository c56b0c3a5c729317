"""The console's web layer in-process: access, CSRF, read-only mode, escaping and the headers
that keep a hostile HTML body inert."""

from __future__ import annotations

import re

import pytest
from rq.registry import FailedJobRegistry

from console.server import check_exposure
from mailbus.errors import ConfigError
from mailbus.queue import message_queue
from mailbus.settings import Settings
from mailbus.status import record
from tests.conftest import ROOT, subprocess_env
from tests.console.conftest import TOKEN, store_message
from tests.e2e.harness import mailbus

HOSTILE = (
    b"From: <script>alert(1)</script> <evil@example.net>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: <img src=x onerror=alert(1)> hi\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/html\r\n\r\n"
    b"<p>hello</p><script>window.__pwned=1</script><img src=https://tracker.example/x.gif>\r\n"
    b"--b\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Disposition: attachment; filename*=UTF-8''invoice%E2%80%AEfdp.exe\r\n\r\n"
    b"MZ\r\n--b--\r\n"
)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def test_without_a_token_the_loopback_console_opens_and_starts_a_session(console) -> None:
    client = console()
    response = client.get("/messages")
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}]
)
def test_with_a_token_a_request_without_it_is_refused(console, headers) -> None:
    response = console(console_token=TOKEN).get("/messages", headers=headers)
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


def test_a_browser_without_the_token_is_sent_to_the_login_form(console) -> None:
    client = console(console_token=TOKEN)
    response = client.get("/messages?q=x", headers={"Accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fmessages%3Fq%3Dx"


def test_the_bearer_token_or_the_login_cookie_lets_a_request_in(console) -> None:
    client = console(console_token=TOKEN)
    assert client.get("/messages", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    refused = client.post("/login", data={"token": "nope"}, follow_redirects=False)
    assert refused.status_code == 401 and "mailbus_console" not in client.cookies
    logged = client.post("/login?next=/health", data={"token": TOKEN}, follow_redirects=False)
    assert logged.status_code == 303 and logged.headers["location"] == "/health"
    assert client.get("/messages").status_code == 200


def test_a_forged_or_foreign_session_cookie_is_refused(console) -> None:
    other = console(console_token="another-token-entirely")
    other.post("/login", data={"token": "another-token-entirely"})
    client = console(console_token=TOKEN)
    client.cookies.set("mailbus_console", other.cookies["mailbus_console"])
    assert client.get("/messages").status_code == 401


def test_login_never_redirects_off_site(console) -> None:
    client = console(console_token=TOKEN)
    response = client.post(
        "/login?next=//evil.example/x", data={"token": TOKEN}, follow_redirects=False
    )
    assert response.headers["location"] == "/messages"


def dead_letter(fake, client) -> str:
    message_id = store_message(fake, client.settings, b"Subject: x\r\n\r\nbody\r\n")
    queue = message_queue(fake, client.settings)
    job = queue.fetch_job(message_id)
    FailedJobRegistry(queue=queue).add(job, exc_string="RuntimeError: handler broke")
    queue.remove(job)
    return message_id


def test_requeue_without_the_csrf_token_is_refused(fake, console) -> None:
    client = console()
    message_id = dead_letter(fake, client)
    client.get("/messages")  # the session cookie
    assert client.post(f"/messages/{message_id}/requeue").status_code == 403
    assert (
        client.post(f"/messages/{message_id}/requeue", data={"csrf": "0" * 64}).status_code == 403
    )
    assert message_id in FailedJobRegistry(queue=message_queue(fake, client.settings))


def test_requeue_from_another_origin_is_refused_even_with_a_token(fake, console) -> None:
    client = console()
    message_id = dead_letter(fake, client)
    csrf = csrf_of(client.get("/dead").text)
    response = client.post(
        f"/messages/{message_id}/requeue",
        data={"csrf": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


def test_our_pages_let_the_browser_send_their_origin(console) -> None:
    """With `Referrer-Policy: no-referrer` a browser sends `Origin: null` on a form POST, which
    the CSRF check refuses: our own requeue button would never work."""
    assert console().get("/dead").headers["referrer-policy"] == "same-origin"


def test_requeue_with_the_csrf_token_puts_the_dead_letter_back(fake, console) -> None:
    client = console()
    message_id = dead_letter(fake, client)
    csrf = csrf_of(client.get("/dead").text)
    response = client.post(
        f"/messages/{message_id}/requeue",
        data={"csrf": csrf},
        headers={"Origin": "http://127.0.0.1"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    queue = message_queue(fake, client.settings)
    assert message_id not in FailedJobRegistry(queue=queue)
    assert message_id in queue.job_ids
    assert "requeued" in client.get(f"/messages/{message_id}/timeline").text


def test_a_bearer_request_needs_no_csrf_token(fake, console) -> None:
    client = console(console_token=TOKEN)
    message_id = dead_letter(fake, client)
    response = client.post(
        f"/messages/{message_id}/requeue",
        headers={"Authorization": f"Bearer {TOKEN}"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_readonly_hides_requeue_and_refuses_it(fake, console) -> None:
    client = console(console_readonly=True)
    message_id = dead_letter(fake, client)
    for page in ("/dead", f"/messages/{message_id}"):
        html = client.get(page).text
        assert "Requeue" not in html and "read-only" in html
    access = client.app.state.access  # a valid token for this session, as a page would carry
    csrf = access.csrf_token(access.session_id(client.cookies["mailbus_console"]))
    response = client.post(f"/messages/{message_id}/requeue", data={"csrf": csrf})
    assert response.status_code == 403
    assert message_id in FailedJobRegistry(queue=message_queue(fake, client.settings))


def test_hostile_strings_are_escaped_in_the_list_and_the_message(fake, console) -> None:
    client = console()
    message_id = store_message(fake, client.settings, HOSTILE, mail_from="<b>x</b>@example.org")
    for page in ("/messages", "/messages/rows", f"/messages/{message_id}"):
        html = client.get(page).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>x</b>" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
    html = client.get(f"/messages/{message_id}").text
    assert "window.__pwned" not in html  # the HTML body only ever goes to the sandboxed frame
    assert "<U+202E>" in html or "\u202e" not in html


def test_pages_only_run_our_own_script(console) -> None:
    response = console().get("/messages")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_html_body_is_sandboxed_and_may_load_nothing_remote(fake, console) -> None:
    client = console()
    message_id = store_message(fake, client.settings, HOSTILE)
    page = client.get(f"/messages/{message_id}").text
    frame = re.search(r"<iframe[^>]*>", page, re.S)
    assert frame and 'sandbox=""' in frame.group(0)
    body = client.get(f"/messages/{message_id}/body.html")
    policy = body.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) if " " in d.strip() else (d.strip(), "")
                      for d in policy.split(";"))  # fmt: skip
    assert directives["default-src"] == "'none'"
    assert directives["img-src"] == "data: cid:"
    assert "sandbox" in directives and directives["sandbox"] == ""
    assert "script-src" not in directives and "http" not in policy


def test_remote_images_load_only_when_asked_and_nothing_else_does(fake, console) -> None:
    client = console()
    message_id = store_message(fake, client.settings, HOSTILE)
    policy = client.get(f"/messages/{message_id}/body.html?remote=1").headers[
        "content-security-policy"
    ]
    assert "img-src data: cid: https: http:" in policy
    assert policy.count("http") == 2 and "sandbox" in policy


def test_attachment_download_names_cannot_hide_their_extension(fake, console) -> None:
    client = console()
    message_id = store_message(fake, client.settings, HOSTILE)
    response = client.get(f"/messages/{message_id}/attachments/0")
    if response.status_code == 404:  # the parser numbered the body part first
        response = client.get(f"/messages/{message_id}/attachments/1")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "\u202e" not in disposition and "%E2%80%AE" not in disposition.upper()
    assert response.headers["content-type"] == "application/octet-stream"


def test_paging_is_newest_first_and_search_finds_by_subject_and_id(fake, console) -> None:
    client = console()
    ids = [
        store_message(fake, client.settings, f"Subject: number {i} tag{i}x\r\n\r\nx\r\n".encode())
        for i in range(60)
    ]
    fake.zadd("mailbus:index", {message_id: i for i, message_id in enumerate(ids)})
    first = client.get("/messages").text
    assert first.index(ids[59]) < first.index(ids[58])
    assert ids[9] not in first and "offset=50" in first
    assert ids[9] in client.get("/messages?offset=50").text
    found = client.get("/messages?q=NUMBER+tag7x").text
    assert ids[7] in found and ids[8] not in found
    assert ids[3] in client.get(f"/messages?q={ids[3]}").text


def test_the_console_refuses_a_reachable_address_without_a_token() -> None:
    with pytest.raises(ConfigError, match="MAILBUS_CONSOLE_TOKEN"):
        check_exposure(Settings(console_host="0.0.0.0"))
    check_exposure(Settings(console_host="0.0.0.0", console_token=TOKEN))
    for host in ("127.0.0.1", "::1", "localhost"):
        check_exposure(Settings(console_host=host))


def test_search_by_status_lists_only_messages_in_that_state(fake, console) -> None:
    client = console()
    dead, alive = (store_message(fake, client.settings, b"Subject: s\r\n\r\nx\r\n") for _ in "ab")
    record(fake, dead, 600, {"event": "dead", "reason": "RuntimeError: broke"})
    found = client.get("/messages?status=dead").text
    assert dead in found and alive not in found
    assert alive in client.get("/messages?status=queued").text


def test_mailbus_console_on_a_public_address_without_a_token_exits_with_the_reason() -> None:
    env = subprocess_env(MAILBUS_CONSOLE_HOST="0.0.0.0", PYTHONPATH=str(ROOT))
    result = mailbus("console", env=env, timeout=60)
    assert result.returncode == 2
    assert "MAILBUS_CONSOLE_TOKEN" in result.stderr


def test_the_list_and_the_message_show_the_workers_verdicts(fake, console) -> None:
    client = console()
    judged, unjudged = (
        store_message(fake, client.settings, b"Subject: v\r\n\r\nx\r\n") for _ in "ab"
    )
    auth = {"event": "auth", "spf": "pass", "dkim": ["fail", "pass"], "dmarc": "fail"}
    record(fake, judged, 600, auth)
    listed = client.get("/messages").text
    assert 'title="SPF pass, DKIM pass">DMARC fail</span>' in listed
    page = client.get(f"/messages/{judged}").text
    assert "SPF pass · DKIM pass · DMARC fail" in page
    assert "not computed" in client.get(f"/messages/{unjudged}").text
