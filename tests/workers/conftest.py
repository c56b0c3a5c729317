"""Fixtures for the worker tests: settings, a fakeredis-backed context, and a way to store and
enqueue a message exactly like the listener does."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest

from mailbus.envelope import Envelope
from mailbus.ids import new_message_id
from mailbus.queue import enqueue_message, message_queue
from mailbus.router import Router
from mailbus.settings import Settings
from mailbus.stores.base import Store, raw_key
from mailbus.testing import mailbus_deliver  # noqa: F401  (the fixture handler authors use)
from mailbus.trace import delivery_digest, trace_headers
from tests.workers import handlers_basic
from workers import context

EML = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: Printer on fire\r\n"
    b"Message-ID: <m1@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"It is really on fire.\r\n"
    b"--b1\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b'Content-Disposition: attachment; filename="log.bin"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAECAwQFBgc=\r\n"
    b"--b1--\r\n"
)


def make_settings(**changes: Any) -> Settings:
    base = Settings(
        redis_url="redis://127.0.0.1:1/0",
        queue="mailbus-test",
        handlers="tests.workers.handlers_basic:router",
        retries=2,
        retry_backoff=(0,),
        job_timeout=30,
        reconcile_interval=0,
        auth=False,  # no DNS from delivery tests; tests/auth/test_worker.py covers msg.auth
    )
    return base.replace(**changes)


def put_message(
    store: Store,
    connection: Any,
    settings: Settings,
    *,
    to: tuple[str, ...] = ("support@example.com",),
    body: bytes = EML,
    mail_from: str = "alice@example.org",
    message_id: str | None = None,
    enqueue: bool = True,
) -> str:
    """Store raw bytes with the trace block and enqueue the job, as the listener does."""
    message_id = message_id or new_message_id()
    envelope = Envelope(mail_from=mail_from, rcpt_tos=to, helo="mx.example.org",
                        peer="192.0.2.1:4242", received_at=time.time())  # fmt: skip
    store.put_raw(raw_key(message_id), trace_headers(envelope, message_id, "mx.test") + body)
    if enqueue:
        enqueue_message(
            message_queue(connection, settings),
            settings,
            message_id=message_id,
            raw_key=raw_key(message_id),
            envelope=envelope,
            digest=delivery_digest(body, envelope),
        )
    return message_id


@pytest.fixture(autouse=True)
def _reset_handlers() -> Iterator[None]:
    handlers_basic.calls.clear()
    handlers_basic.failures.clear()
    handlers_basic.seen.clear()
    yield
    context.install(None)


@pytest.fixture
def fake() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


@pytest.fixture
def make_ctx(fake: fakeredis.FakeRedis) -> Callable[..., context.Context]:
    def make(router: Router = handlers_basic.router, **changes: Any) -> context.Context:
        ctx = context.build(make_settings(**changes), router, connection=fake)
        context.install(ctx)
        return ctx

    return make
