"""The console's web application: routes, the guard in front of them, and the headers that keep
hostile mail inert.

Every page is rendered server-side by Jinja2 with autoescaping, under a CSP that only runs our own
script file. A message's HTML body is served by a route of its own with a CSP that forbids scripts
and remote loads (remote images only when the viewer asked for them) plus the `sandbox` directive,
and the page shows it in an `<iframe sandbox>` with no permissions at all.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

import redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from console import views
from console.auth import COOKIE, Access
from console.data import Reader
from mailbus.connections import redis_connection
from mailbus.logs import log_event
from mailbus.settings import Settings
from mailbus.stores import open_store

log = logging.getLogger("mailbus.console")
HERE = Path(__file__).parent
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


def create_app(settings: Settings, *, connection: redis.Redis | None = None) -> Starlette:
    """The ASGI app for `settings`; `mailbus console` serves it with uvicorn."""
    connection = connection or redis_connection(settings.redis_url)
    store = open_store(settings.store, connection, raw_ttl=settings.raw_ttl)
    app = Starlette(
        routes=[
            Route("/", views.home),
            Route("/login", views.login, methods=["GET", "POST"]),
            Route("/logout", views.logout, methods=["POST"]),
            Route("/messages", views.message_list),
            Route("/messages/rows", views.message_rows),
            Route("/messages/{id}", views.message_page),
            Route("/messages/{id}/timeline", views.message_timeline),
            Route("/messages/{id}/body.html", views.html_body),
            Route("/messages/{id}/raw", views.raw_download),
            Route("/messages/{id}/attachments/{index:int}", views.attachment_download),
            Route("/messages/{id}/requeue", views.requeue_one, methods=["POST"]),
            Route("/dead", views.dead_letters),
            Route("/dead/requeue-all", views.requeue_all, methods=["POST"]),
            Route("/health", views.health),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)],
    )
    app.state.settings = settings
    app.state.connection = connection
    app.state.reader = Reader(connection, store)
    app.state.access = Access(settings.console_token)
    return app


async def guard(request: Request, call_next: RequestResponseEndpoint) -> Response:
    """Refuse whoever has neither the bearer token nor a session; give every response our
    safety headers; start a session (for its CSRF token) when the console needs no login."""
    access: Access = request.app.state.access
    cookie = request.cookies.get(COOKIE)
    sid = access.session_id(cookie)
    bearer = access.bearer_ok(request.headers.get("authorization", ""))
    fresh = None
    if sid is None and access.open:
        fresh = access.new_session()
        sid = access.session_id(fresh)
    request.state.sid = sid
    request.state.bearer = bearer
    public = request.url.path == "/login" or request.url.path.startswith("/static/")
    if not (public or bearer or sid is not None):
        client = request.client.host if request.client else None
        log_event(log, "console.refused", path=request.url.path, client=client)
        response = _refuse(request)
    else:
        response = await call_next(request)
    if fresh is not None:
        views.set_session(request, response, fresh)
    headers = response.headers
    headers.setdefault("Content-Security-Policy", PAGE_CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers["X-Content-Type-Options"] = "nosniff"
    # same-origin, not no-referrer: with no-referrer the browser sends `Origin: null` on our own
    # POSTs, which the CSRF check must refuse
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cache-Control", "no-store")
    return response


def _refuse(request: Request) -> Response:
    if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return PlainTextResponse(
        "401 Unauthorized: send the MAILBUS_CONSOLE_TOKEN as a bearer token or log in",
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="mailbus console"'},
    )
