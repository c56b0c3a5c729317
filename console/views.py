"""The console's pages and actions. Handlers are plain `def`s: Starlette runs them in its thread
pool, where the blocking Redis and store calls belong. Writes go only through `mailbus.deadletters`
(the code `mailbus failed requeue` runs), and only after `_check_post` passed."""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from typing import Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from console.auth import COOKIE, SESSION_SECONDS, Access
from console.data import STATUSES, Reader, verdicts
from console.health import read_health
from console.templates import render
from mailbus import deadletters
from mailbus.errors import StoreError
from mailbus.logs import log_event
from mailbus.settings import Settings

log = logging.getLogger("mailbus.console")
PAGE = 50
_BARE = {"csrf": "", "readonly": False, "logged_in": False}  # the login page's header


def _reader(request: Request) -> Reader:
    return request.app.state.reader  # type: ignore[no-any-return]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _page(request: Request, template: str, **context: Any) -> HTMLResponse:
    access: Access = request.app.state.access
    sid = request.state.sid
    context.update(
        csrf=access.csrf_token(sid) if sid else "",
        readonly=_settings(request).console_readonly,
        logged_in=not access.open and sid is not None,
    )
    return HTMLResponse(render(template, **context))


def home(request: Request) -> Response:
    return RedirectResponse("/messages", status_code=303)


def _list_context(request: Request) -> dict[str, Any]:
    params = request.query_params
    query, status = params.get("q", "").strip(), params.get("status", "")
    status = status if status in STATUSES else ""
    offset = max(0, int(params.get("offset", "0"))) if params.get("offset", "").isdigit() else 0
    page = _reader(request).page(offset=offset, limit=PAGE, query=query, status=status)
    filters = {k: v for k, v in (("q", query), ("status", status)) if v}
    return dict(
        page=page,
        query=query,
        status=status,
        statuses=STATUSES,
        offset=offset,
        live=offset == 0,
        rows_url="/messages/rows?" + urlencode(filters),
        next_url=(
            "/messages?" + urlencode({**filters, "offset": page.next_offset})
            if page.next_offset is not None
            else None
        ),
    )


def message_list(request: Request) -> HTMLResponse:
    return _page(request, "list.html", **_list_context(request))


def message_rows(request: Request) -> HTMLResponse:
    """The list's rows alone, which the page polls every second."""
    return _page(request, "rows.html", **_list_context(request))


def _message_or_404(request: Request) -> tuple[str, Any]:
    message_id = request.path_params["id"]
    try:
        return message_id, _reader(request).message(message_id)
    except StoreError:
        return message_id, None


def message_page(request: Request) -> HTMLResponse:
    message_id, msg = _message_or_404(request)
    status, events = _reader(request).timeline(message_id)
    if msg is None and not events:
        raise HTTPException(404, "no such message (unknown id, or its records expired)")
    remote = request.query_params.get("remote") == "1"
    return _page(
        request, "message.html", id=message_id, msg=msg, status=status, events=events,
        remote=remote, verdicts=verdicts(events),
    )  # fmt: skip


def message_timeline(request: Request) -> HTMLResponse:
    message_id = request.path_params["id"]
    status, events = _reader(request).timeline(message_id)
    return _page(request, "timeline.html", id=message_id, status=status, events=events)


def html_body(request: Request) -> Response:
    """The HTML body, inert: no scripts, no remote loads (images only when asked), sandboxed."""
    _, msg = _message_or_404(request)
    if msg is None or not msg.html:
        raise HTTPException(404, "no HTML body")
    images = "data: cid:" + (" https: http:" if request.query_params.get("remote") == "1" else "")
    policy = (
        f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; font-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"
    )
    return HTMLResponse(
        msg.html,
        headers={
            "Content-Security-Policy": policy,
            "X-Frame-Options": "SAMEORIGIN",
            "Referrer-Policy": "no-referrer",
        },
    )


def raw_download(request: Request) -> Response:
    message_id = request.path_params["id"]
    try:
        data = _reader(request).raw(message_id)
    except StoreError as exc:
        raise HTTPException(404, "the raw message is not in the store") from exc
    return _download(data, f"{message_id}.eml", "message/rfc822")


def attachment_download(request: Request) -> Response:
    _, msg = _message_or_404(request)
    index = request.path_params["index"]
    found = [a for a in (msg.attachments if msg else []) if a.index == index]
    if not found:
        raise HTTPException(404, "no such attachment")
    return _download(found[0].read(), found[0].filename or f"attachment-{index}", None)


def _download(data: bytes, filename: str, media_type: str | None) -> Response:
    """Always a download (never rendered by the browser), with a name that cannot mislead."""
    safe = "".join(c for c in filename if unicodedata.category(c)[0] not in "CZ" or c == " ")
    ascii_name = safe.encode("ascii", "replace").decode().replace('"', "_") or "download"
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(safe)}"
    return Response(
        data,
        media_type=media_type or "application/octet-stream",
        headers={"Content-Disposition": disposition},
    )


async def _check_post(request: Request) -> dict[str, str]:
    """A state-changing request must come from our own pages (CSRF token, same origin) or
    carry the bearer token; in read-only mode nothing changes state."""
    if _settings(request).console_readonly:
        raise HTTPException(403, "the console is read-only (MAILBUS_CONSOLE_READONLY)")
    form = {k: str(v) for k, v in (await request.form()).items()}
    if request.state.bearer:
        return form
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    access: Access = request.app.state.access
    if (origin is not None and origin != own) or not access.csrf_ok(
        request.state.sid, form.get("csrf", "")
    ):
        raise HTTPException(403, "cross-site request refused (missing or wrong CSRF token)")
    return form


async def requeue_one(request: Request) -> Response:
    await _check_post(request)
    message_id = request.path_params["id"]
    settings = _settings(request)
    done = await run_in_threadpool(
        deadletters.requeue, request.app.state.connection, settings, message_id
    )
    if not done:
        raise HTTPException(409, f"{message_id} is not a dead letter")
    log_event(log, "console.requeued", id=message_id)
    return RedirectResponse(f"/messages/{quote(message_id)}", status_code=303)


async def requeue_all(request: Request) -> Response:
    await _check_post(request)
    connection, settings = request.app.state.connection, _settings(request)
    count = await run_in_threadpool(deadletters.requeue_all, connection, settings)
    log_event(log, "console.requeued_all", count=count)
    return RedirectResponse("/dead", status_code=303)


def dead_letters(request: Request) -> HTMLResponse:
    letters = deadletters.list_failed(request.app.state.connection, _settings(request))
    return _page(request, "dead.html", letters=list(reversed(letters)))


def health(request: Request) -> HTMLResponse:
    connection, settings = request.app.state.connection, _settings(request)
    letters = deadletters.list_failed(connection, settings)
    accepted = _reader(request).accepted_since(3600)
    return _page(
        request, "health.html", health=read_health(connection, settings, accepted, letters)
    )


async def login(request: Request) -> Response:
    access: Access = request.app.state.access
    target = request.query_params.get("next", "/messages")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/messages"
    if request.method == "GET":
        page = render("login.html", next=target, failed=False, open=access.open, **_BARE)
        return HTMLResponse(page)
    form = await request.form()
    if access.open or not access.token_ok(str(form.get("token", ""))):
        await asyncio.sleep(0.2)  # a little friction for guessing; the token is long anyway
        page = render("login.html", next=target, failed=True, open=access.open, **_BARE)
        return HTMLResponse(page, status_code=401)
    response = RedirectResponse(target, status_code=303)
    set_session(request, response, access.new_session())
    return response


async def logout(request: Request) -> Response:
    access: Access = request.app.state.access
    form = {k: str(v) for k, v in (await request.form()).items()}
    if not access.csrf_ok(request.state.sid, form.get("csrf", "")):
        raise HTTPException(403, "cross-site request refused")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def set_session(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
