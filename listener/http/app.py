"""The ingress ASGI app: one POST route per provider, each with the listener's promise.

A request body is read in chunks against a bound (the message size limit plus room for the
provider's encoding) and refused with 413 as soon as it passes it, so nothing unbounded is ever
buffered. Then: authenticate and extract (`providers`, `ses`), store + enqueue through the same
`Persister` as SMTP sessions, and only then `200`. A provider whose secret is not configured has
no endpoint (404), so an ingress never accepts unauthenticated mail by omission.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from listener.http import providers
from listener.http.forms import parse_form
from listener.http.providers import Inbound, Refused
from listener.http.ses import Sns
from listener.metrics import INGRESS_REQUESTS
from listener.persist import Message, Persister
from mailbus.envelope import Envelope
from mailbus.ids import new_message_id
from mailbus.logs import log_event
from mailbus.settings import Settings
from mailbus.trace import delivery_digest, trace_headers

log = logging.getLogger("mailbus.ingress")
REPLAY_SECONDS = 600  # a Mailgun token is remembered twice as long as a timestamp stays valid


def build_app(settings: Settings, persister: Persister, *, sns: Sns | None = None) -> Starlette:
    """The app for one process; `persister` is started and stopped with it."""
    sns = sns or Sns(settings.ses_topics, endpoint=settings.sns_cert_endpoint)
    ingress = Ingress(settings, persister, sns)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        pending = [f for f in persister.inflight if not f.done()]
        if pending:  # a shutdown waits for writes already under way, as the SMTP drain does
            await asyncio.wait(pending, timeout=settings.shutdown_grace)

    routes = [Route(f"/ingress/{name}", ingress.endpoint(name), methods=["POST"])
              for name in ("ses", "mailgun", "postmark", "sendgrid")]  # fmt: skip
    # Mailgun posts the raw MIME only to a URL that ends in "mime"
    routes.append(Route("/ingress/mailgun/mime", ingress.endpoint("mailgun"), methods=["POST"]))
    return Starlette(routes=routes, lifespan=lifespan)


class Ingress:
    """The request path shared by every provider."""

    def __init__(self, settings: Settings, persister: Persister, sns: Sns) -> None:
        self.settings = settings
        self.persister = persister
        self.sns = sns
        self.body_limit = 2 * settings.max_message_size + (1 << 20)  # JSON / base64 overhead

    def endpoint(self, provider: str) -> Callable[[Request], Any]:
        async def handle(request: Request) -> JSONResponse:
            started = time.perf_counter()
            try:
                status, fields = await self._handle(provider, request)
            except Refused as refused:
                status, fields = refused.status, {"error": refused.reason}
            INGRESS_REQUESTS.labels(provider, str(status)).inc()
            level = logging.INFO if status < 400 else logging.WARNING
            log_event(log, "ingress.request", level=level, provider=provider, status=status,
                      peer=_peer(request), ms=round((time.perf_counter() - started) * 1000, 1),
                      **fields)  # fmt: skip
            if status == 401:
                return JSONResponse(fields, status, {"WWW-Authenticate": 'Basic realm="mailbus"'})
            return JSONResponse(fields, status)

        return handle

    async def _handle(self, provider: str, request: Request) -> tuple[int, dict[str, Any]]:
        settings = self.settings
        if provider == "postmark" and settings.postmark_auth:
            providers.check_basic_auth(request.headers.get("authorization"), settings.postmark_auth)
            inbound: Inbound | None = providers.postmark(await self._body(request))
        elif provider == "sendgrid" and settings.sendgrid_auth:
            providers.check_basic_auth(request.headers.get("authorization"), settings.sendgrid_auth)
            inbound = providers.sendgrid(await self._form(request))
        elif provider == "mailgun" and settings.mailgun_signing_key:
            form = await self._form(request)
            inbound = providers.mailgun(form, settings.mailgun_signing_key)
            await self._check_replay(inbound)
        elif provider == "ses" and settings.ses_topics:
            body = await self._body(request)
            inbound = await asyncio.get_running_loop().run_in_executor(None, self.sns.handle, body)
            if inbound is None:
                return 200, {"confirmed": True}
        else:
            raise Refused(404, f"/ingress/{provider} is off: set its secret (see the README)")
        assert inbound is not None
        if len(inbound.raw) > settings.max_message_size:
            raise Refused(
                413, f"message is {len(inbound.raw)} bytes, over MAILBUS_MAX_MESSAGE_SIZE"
            )
        if not inbound.raw.strip():
            raise Refused(400, "empty message")
        message_id = await self._persist(provider, inbound)
        await self._remember(inbound)
        return 200, {"id": message_id, "source_id": inbound.source_id or None}

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.body_limit:
            raise Refused(413, f"body of {declared} bytes is over the limit")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.body_limit:
                raise Refused(413, "body is over the limit")
        return bytes(body)

    async def _form(self, request: Request) -> dict[str, bytes]:
        body = await self._body(request)
        return parse_form(request.headers.get("content-type", ""), body)

    async def _persist(self, provider: str, inbound: Inbound) -> str:
        message_id = new_message_id()
        envelope = Envelope(
            mail_from=inbound.mail_from,
            rcpt_tos=inbound.rcpt_tos,
            helo=provider,
            peer=f"{inbound.client_ip}:0" if inbound.client_ip else "",
            tls=True,
            received_at=time.time(),
            source=provider,
            source_id=inbound.source_id,
        )
        data = bytearray(trace_headers(envelope, message_id, self.settings.hostname))
        data += inbound.raw
        digest = delivery_digest(inbound.raw, envelope)
        # a bytearray, as the SMTP path hands over: every store takes one without a copy
        message = Message(message_id, data, envelope, digest, len(inbound.raw))  # type: ignore[arg-type]

        def late(outcome: str) -> None:
            log_event(log, "message.persist_late", id=message_id, outcome=outcome)

        try:
            await self.persister.persist(message, on_late=late)
        except Exception as exc:
            log_event(log, "message.persist_failed", level=logging.ERROR, id=message_id,
                      provider=provider, error=repr(exc))  # fmt: skip
            raise Refused(503, f"could not store the message (id={message_id}); retry") from None
        log_event(log, "message.queued", id=message_id, source=provider,
                  source_id=inbound.source_id, mail_from=inbound.mail_from,
                  rcpt_tos=list(inbound.rcpt_tos), size=len(inbound.raw))  # fmt: skip
        return message_id

    async def _check_replay(self, inbound: Inbound) -> None:
        if inbound.replay_token and await self._redis(
            lambda c: c.exists(_replay_key(inbound.replay_token))
        ):
            raise Refused(403, "replayed token")

    async def _remember(self, inbound: Inbound) -> None:
        """Only once stored, so a provider's retry after our 503 is still taken."""
        if inbound.replay_token:
            try:
                await self._redis(
                    lambda c: c.set(_replay_key(inbound.replay_token), 1, ex=REPLAY_SECONDS)
                )
            except redis.RedisError as exc:  # stored already: dedupe still catches a replay
                log_event(log, "ingress.replay_unrecorded", level=logging.WARNING, error=repr(exc))

    async def _redis(self, call: Callable[[redis.Redis], Any]) -> Any:
        connection = self.persister.connection
        try:
            return await asyncio.get_running_loop().run_in_executor(None, call, connection)
        except redis.RedisError as exc:
            raise Refused(503, f"Redis: {type(exc).__name__}") from None


def _replay_key(token: str) -> str:
    return f"mailbus:ingress:seen:{token}"


def _peer(request: Request) -> str:
    return request.client.host if request.client else ""
