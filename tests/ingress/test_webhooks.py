"""Webhooks out: the signature a receiver checks, the payload it gets, and retries through a
real worker against a real HTTP receiver that fails before it succeeds."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from mailbus import Router
from mailbus.parse import parse
from mailbus.webhooks import payload, sign, verify
from tests.e2e.harness import Listener, mailbus, mailbus_env, multipart_message, queued_id, send

SECRET = "whsec_test"


def test_a_signature_verifies_and_a_changed_body_or_old_stamp_does_not() -> None:
    body = b'{"subject": "hi"}'
    header = sign(body, SECRET)
    assert verify(body, header, SECRET)
    assert not verify(body + b" ", header, SECRET)
    assert not verify(body, header, "another secret")
    assert not verify(body, sign(body, SECRET, timestamp=int(time.time()) - 301), SECRET)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    """What the README tells receivers in other languages to compute."""
    stamp, digest = sign(b"{}", SECRET, timestamp=1700000000).split(",")
    assert stamp == "t=1700000000"
    assert digest == "v1=" + hmac.new(SECRET.encode(), b"1700000000.{}", hashlib.sha256).hexdigest()


def test_the_payload_carries_a_version_and_attachments_within_the_inline_budget() -> None:
    msg = parse(multipart_message("payload"))
    data = payload(msg)
    assert data["schema_version"] == 1 and data["subject"] == "payload"
    assert data["attachments"][0]["content_base64"]
    assert payload(msg, inline_max=10)["attachments"][0]["content_base64"] is None
    json.dumps(data)  # JSON-safe


def test_the_postmark_format_has_postmarks_field_names() -> None:
    data = payload(parse(multipart_message("pm")), format="postmark")
    assert data["Subject"] == "pm" and data["FromFull"]["Email"] == "ada@example.org"
    assert data["Attachments"][0]["Name"] == "fire.png"
    assert data["Attachments"][0]["ContentType"] == "image/png"


def test_a_wrong_format_fails_when_the_route_is_made() -> None:
    with pytest.raises(ValueError, match="format"):
        Router().forward(to="*", url="http://127.0.0.1:9/", format="mailgun")


class Receiver:
    """A webhook receiver that fails its first `failures` requests, checking every signature
    the way the README tells receivers to (independently of mailbus.webhooks)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                parts = dict(p.split("=", 1) for p in self.headers["Mailbus-Signature"].split(","))
                mac = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
                valid = hmac.compare_digest(mac.hexdigest(), parts["v1"])
                receiver.requests.append({"valid": valid, "body": json.loads(body)})
                ok = valid and len(receiver.requests) > receiver.failures
                self.send_response(200 if ok else 500)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mail"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    receiver = Receiver(request.param)
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def _env(tmp_path: Path, redis_server: Any, receiver: Receiver) -> dict[str, str]:
    return mailbus_env(
        tmp_path,
        redis_server.url,
        f"file://{tmp_path / 'store'}",
        MAILBUS_HANDLERS="tests.ingress.handlers_forward:router",
        MAILBUS_RETRIES="2",
        WEBHOOK_URL=receiver.url,
        WEBHOOK_SECRET=SECRET,
    )


@pytest.mark.e2e
@pytest.mark.parametrize("receiver", [2], indirect=True)
def test_a_receiver_that_fails_twice_gets_the_message_on_the_third_try(
    tmp_path: Path, redis_server: Any, real_redis: redis.Redis, receiver: Receiver
) -> None:
    env = _env(tmp_path, redis_server, receiver)
    with Listener(env) as listener:
        code, reply = send(listener.port, multipart_message("hooked"), to=("hook@example.com",))
    assert code == 250, reply
    assert mailbus("worker", "--burst", env=env).returncode == 0
    assert [r["valid"] for r in receiver.requests] == [True, True, True]
    assert all(r["body"]["id"] == queued_id(reply) for r in receiver.requests)
    assert receiver.requests[-1]["body"]["subject"] == "hooked"
    assert "hooked" not in mailbus("failed", env=env).stdout


@pytest.mark.e2e
@pytest.mark.parametrize("receiver", [100], indirect=True)
def test_a_receiver_that_always_fails_ends_in_the_dead_letter_registry(
    tmp_path: Path, redis_server: Any, real_redis: redis.Redis, receiver: Receiver
) -> None:
    env = _env(tmp_path, redis_server, receiver)
    with Listener(env) as listener:
        code, reply = send(listener.port, multipart_message("refused"), to=("hook@example.com",))
    assert code == 250, reply
    assert mailbus("worker", "--burst", env=env).returncode == 0
    assert len(receiver.requests) == 3  # the first try and two retries
    failed = mailbus("failed", env=env).stdout
    assert queued_id(reply) in failed and "answered 500" in failed


@pytest.mark.e2e
@pytest.mark.parametrize("receiver", [0], indirect=True)
def test_mailbus_webhook_url_alone_forwards_every_message(
    tmp_path: Path, redis_server: Any, real_redis: redis.Redis, receiver: Receiver
) -> None:
    env = _env(tmp_path, redis_server, receiver)
    del env["MAILBUS_HANDLERS"]
    env.update(MAILBUS_WEBHOOK_URL=receiver.url, MAILBUS_WEBHOOK_SECRET=SECRET)
    with Listener(env) as listener:
        code, reply = send(listener.port, multipart_message("catch-all"), to=("x@example.com",))
    assert code == 250, reply
    assert mailbus("worker", "--burst", env=env).returncode == 0
    assert [(r["valid"], r["body"]["subject"]) for r in receiver.requests] == [(True, "catch-all")]


def test_attachments_over_the_budget_travel_as_links_with_an_expiry() -> None:
    msg = parse(multipart_message("linked"))
    msg.attachments[0]._linker = lambda expires: f"https://files.test/fire.png?ttl={expires}"
    entry = payload(msg, inline_max=10, link_ttl=600)["attachments"][0]
    assert entry["content_base64"] is None
    assert entry["url"] == "https://files.test/fire.png?ttl=600"
    assert 0 < entry["url_expires_at"] - time.time() <= 600
    postmark = payload(msg, format="postmark", inline_max=10)["Attachments"][0]
    assert (postmark["Content"], postmark["Url"]) == (None, "https://files.test/fire.png?ttl=86400")


@pytest.mark.e2e
@pytest.mark.parametrize("receiver", [0], indirect=True)
def test_with_the_s3_store_a_big_attachment_comes_as_a_presigned_url_that_works(
    tmp_path: Path, redis_server: Any, real_redis: redis.Redis, receiver: Receiver, aws_env: dict
) -> None:
    import hashlib as _hashlib
    import urllib.request

    import boto3

    boto3.client("s3").create_bucket(Bucket="hooks")
    env = _env(tmp_path, redis_server, receiver)
    del env["MAILBUS_HANDLERS"]  # the catch-all, whose budget MAILBUS_WEBHOOK_INLINE_MAX sets
    env.update(aws_env, MAILBUS_STORE="s3://hooks/mail", MAILBUS_WEBHOOK_INLINE_MAX="10",
               MAILBUS_WEBHOOK_URL=receiver.url, MAILBUS_WEBHOOK_SECRET=SECRET)  # fmt: skip
    with Listener(env) as listener:
        code, reply = send(listener.port, multipart_message("big"), to=("hook@example.com",))
    assert code == 250, reply
    assert mailbus("worker", "--burst", env=env).returncode == 0
    (attachment,) = receiver.requests[0]["body"]["attachments"]
    assert attachment["content_base64"] is None and attachment["url"].startswith("http")
    with urllib.request.urlopen(attachment["url"], timeout=10) as fetched:
        assert _hashlib.sha256(fetched.read()).hexdigest() == attachment["sha256"]
