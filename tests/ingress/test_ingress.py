"""`mailbus ingress` end to end: a real HTTP client posts each provider's payload, built and
signed the way the provider documents it, to a running ingress; a real worker hands the message
to a handler. Refused requests get their status and store nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import redis

from mailbus.redis_server import free_port
from tests.e2e.harness import handled, mailbus, mailbus_env
from tests.ingress.conftest import CERT_PATH, IngressProcess, SnsHost
from tests.ingress.pki import Pki, ses_notification

pytestmark = pytest.mark.e2e

TOPIC = "arn:aws:sns:us-east-1:123456789012:mailbus-inbound"
CERT_URL = "https://sns.us-east-1.amazonaws.com" + CERT_PATH
MAILGUN_KEY = "key-0123456789"
POSTMARK = ("postmark", "s3cret")
SENDGRID = ("sendgrid", "s3cret")
MAX_SIZE = 1_000_000


def message(
    subject: str, *, body: str = "Hello from the provider.\n", message_id: bool = True
) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ada <ada@example.org>"
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = f"<{secrets.token_hex(8)}@example.org>"
    msg.set_content(body)
    return bytes(msg)


def latin1_message(subject: str) -> bytes:
    """8-bit bytes that are not UTF-8: they must reach the store unchanged."""
    head = f"From: ada@example.org\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
    head += "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n"
    return head.encode() + b"\r\nGr\xfc\xdfe aus M\xfcnchen\r\n"


def postmark_payload(raw: bytes, *, message_id: str = "pm-1") -> dict[str, Any]:
    return {
        "MessageID": message_id,
        "OriginalRecipient": "support@example.com",
        "From": "ada@example.org",
        "Headers": [{"Name": "Return-Path", "Value": "<bounce@example.org>"}],
        "RawEmail": raw.decode(),
    }


def mailgun_fields(raw: bytes, *, timestamp: float | None = None, key: str = MAILGUN_KEY):
    stamp = str(int(time.time() if timestamp is None else timestamp))
    token = secrets.token_hex(25)
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    fields = {"recipient": "support@example.com", "sender": "bounce@example.org",
              "timestamp": stamp, "token": token, "signature": signature}  # fmt: skip
    return {name: (None, value) for name, value in fields.items()} | {"body-mime": (None, raw)}


def sendgrid_fields(raw: bytes, envelope: str | None = None) -> dict[str, Any]:
    envelope = envelope or json.dumps({"to": ["support@example.com"], "from": "ada@example.org"})
    return {"email": (None, raw), "envelope": (None, envelope), "sender_ip": (None, "192.0.2.7")}


def ses_message(raw: bytes | None, *, action: dict[str, Any] | None = None) -> dict[str, Any]:
    action = action or {"type": "SNS", "topicArn": TOPIC, "encoding": "BASE64"}
    note: dict[str, Any] = {
        "notificationType": "Received",
        "mail": {
            "source": "bounce@example.org",
            "messageId": f"ses-{secrets.token_hex(4)}",
            "destination": ["support@example.com"],
        },  # fmt: skip
        "receipt": {"recipients": ["support@example.com"], "action": action},
    }
    if raw is not None:
        note["content"] = base64.b64encode(raw).decode()
    return note


@pytest.fixture
def env(tmp_path: Path, redis_server, real_redis, pki: Pki, sns_host: SnsHost, aws_env) -> dict:
    return mailbus_env(
        tmp_path,
        redis_server.url,
        f"file://{tmp_path / 'store'}",
        MAILBUS_HANDLERS="tests.ingress.handlers:router",
        MAILBUS_INGRESS_PORT=str(free_port()),
        MAILBUS_MAILGUN_SIGNING_KEY=MAILGUN_KEY,
        MAILBUS_POSTMARK_AUTH=":".join(POSTMARK),
        MAILBUS_SENDGRID_AUTH=":".join(SENDGRID),
        MAILBUS_SES_TOPICS=TOPIC,
        MAILBUS_SNS_CERT_ENDPOINT=sns_host.origin,
        MAILBUS_MAX_MESSAGE_SIZE=str(MAX_SIZE),
        SSL_CERT_FILE=str(pki.ca_file),
        **aws_env,
    )


@pytest.fixture
def ingress(env: dict) -> Any:
    process = IngressProcess(env)
    yield process
    process.stop()


def stored(env: dict, connection: redis.Redis) -> tuple[int, list[Path]]:
    """Jobs queued and raw objects in the file store: what a refusal must leave at zero."""
    store = Path(env["MAILBUS_STORE"].removeprefix("file://"))
    files = [p for p in store.rglob("*") if p.is_file()] if store.exists() else []
    return int(connection.llen("rq:queue:mailbus")), files  # type: ignore[arg-type]


def test_each_provider_hands_its_message_to_the_handler(
    ingress: IngressProcess, env: dict, pki: Pki, s3_endpoint: str
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="ses-inbound")
    s3.put_object(Bucket="ses-inbound", Key="inbound/abc", Body=message("via ses s3"))
    latin1 = latin1_message("via sendgrid")
    url = ingress.url + "/ingress/"
    replies = [
        httpx.post(url + "postmark", json=postmark_payload(message("via postmark")),
                   auth=POSTMARK),
        httpx.post(url + "mailgun/mime", files=mailgun_fields(message("via mailgun"))),
        httpx.post(url + "sendgrid", files=sendgrid_fields(latin1), auth=SENDGRID),
        httpx.post(url + "ses", json=pki.sign(ses_notification(
            TOPIC, CERT_URL, ses_message(message("via ses"))))),
        httpx.post(url + "ses", json=pki.sign(ses_notification(TOPIC, CERT_URL, ses_message(
            None, action={"type": "S3", "bucketName": "ses-inbound", "objectKey": "inbound/abc"},
        )), version="1")),
    ]  # fmt: skip
    assert [r.status_code for r in replies] == [200] * 5, [r.text for r in replies]
    assert mailbus("worker", "--burst", env=env).returncode == 0
    calls = {call["subject"]: call for call in handled(env)}
    assert set(calls) == {"via postmark", "via mailgun", "via sendgrid", "via ses", "via ses s3"}
    assert calls["via postmark"]["source"] == "postmark"
    assert calls["via postmark"]["source_id"] == "pm-1"
    assert calls["via postmark"]["mail_from"] == "bounce@example.org"
    assert calls["via mailgun"]["mail_from"] == "bounce@example.org"
    assert calls["via ses"]["source_id"].startswith("ses-")
    assert calls["via sendgrid"]["text"].strip() == "Grüße aus München"
    assert all(call["rcpt_tos"] == ["support@example.com"] for call in calls.values())
    ids = {reply.json()["id"] for reply in replies}
    assert ids == {call["id"] for call in calls.values()}


def test_a_provider_retry_reaches_the_handler_once(ingress: IngressProcess, env: dict) -> None:
    """Postmark retries when our 200 did not reach it: the same MessageID again. The message has
    no Message-ID header, so only the provider's id tells the retry from a second message."""
    raw = message("alert", message_id=False)
    payloads = [postmark_payload(raw, message_id=pm) for pm in ("pm-a", "pm-a", "pm-b")]
    for payload in payloads:
        reply = httpx.post(ingress.url + "/ingress/postmark", json=payload, auth=POSTMARK)
        assert reply.status_code == 200
    assert mailbus("worker", "--burst", env=env).returncode == 0
    assert sorted(call["source_id"] for call in handled(env)) == ["pm-a", "pm-b"]


def _refusals(pki: Pki) -> list[tuple[str, str, dict[str, Any], int]]:
    raw = message("refused")
    big = message("big", body="x" * (MAX_SIZE + 10))
    ses = ses_message(raw)
    signed = pki.sign(ses_notification(TOPIC, CERT_URL, ses))
    return [
        ("postmark without credentials", "postmark", {"json": postmark_payload(raw)}, 401),
        ("postmark wrong password", "postmark",
         {"json": postmark_payload(raw), "auth": ("postmark", "guess")}, 401),
        ("sendgrid wrong user", "sendgrid", {"files": sendgrid_fields(raw), "auth": ("x", "y")},
         401),
        ("mailgun signed with another key", "mailgun",
         {"files": mailgun_fields(raw, key="key-wrong")}, 403),
        ("mailgun timestamp 10 minutes old", "mailgun",
         {"files": mailgun_fields(raw, timestamp=time.time() - 600)}, 403),
        ("postmark oversize message", "postmark",
         {"json": postmark_payload(big), "auth": POSTMARK}, 413),
        ("body over the bound", "postmark",
         {"content": b"{" + b" " * (3 * MAX_SIZE + (1 << 20)), "auth": POSTMARK}, 413),
        ("postmark not JSON", "postmark", {"content": b"{nope", "auth": POSTMARK}, 400),
        ("postmark nested 100,000 deep", "postmark",
         {"content": b"[" * 100_000 + b"]" * 100_000, "auth": POSTMARK}, 400),
        ("postmark without RawEmail", "postmark",
         {"json": {"OriginalRecipient": "a@example.com"}, "auth": POSTMARK}, 400),
        ("sendgrid not multipart", "sendgrid", {"content": b"email=x", "auth": SENDGRID}, 400),
        ("sendgrid without envelope", "sendgrid",
         {"files": {"email": (None, raw)}, "auth": SENDGRID}, 400),
        ("sendgrid with 100 parts", "sendgrid",
         {"files": {f"f{i}": (None, b"x") for i in range(100)}, "auth": SENDGRID}, 400),
        ("ses topic not configured", "ses",
         {"json": pki.sign(ses_notification(TOPIC + "-other", CERT_URL, ses))}, 403),
        ("ses tampered message", "ses", {"json": {**signed, "Message": json.dumps(
            ses_message(message("forged")))}}, 403),
        ("ses certificate on another host", "ses", {"json": pki.sign(ses_notification(
            TOPIC, "https://sns.us-east-1.amazonaws.com.evil.example" + CERT_PATH, ses))}, 403),
        ("ses certificate over http", "ses", {"json": pki.sign(ses_notification(
            TOPIC, CERT_URL.replace("https:", "http:"), ses))}, 403),
        ("ses unknown type", "ses", {"json": {**signed, "Type": "Other"}}, 400),
        ("no such provider", "postmaster", {"json": {}}, 404),
    ]  # fmt: skip


def test_refused_requests_get_their_status_and_store_nothing(
    ingress: IngressProcess, env: dict, pki: Pki, real_redis: redis.Redis
) -> None:
    results = {}
    for name, provider, request, _ in _refusals(pki):
        reply = httpx.post(f"{ingress.url}/ingress/{provider}", timeout=30, **request)
        results[name] = reply.status_code
    assert results == {name: status for name, _, _, status in _refusals(pki)}
    assert stored(env, real_redis) == (0, [])
    ok = httpx.post(ingress.url + "/ingress/postmark", json=postmark_payload(message("after")),
                    auth=POSTMARK)  # fmt: skip
    assert ok.status_code == 200  # and the ingress still serves the next request


def test_a_replayed_mailgun_request_is_refused_after_the_first_was_stored(
    ingress: IngressProcess, env: dict, real_redis: redis.Redis
) -> None:
    fields = mailgun_fields(message("once"))
    first = httpx.post(ingress.url + "/ingress/mailgun", files=fields)
    again = httpx.post(ingress.url + "/ingress/mailgun", files=fields)
    assert (first.status_code, again.status_code) == (200, 403)
    assert stored(env, real_redis)[0] == 1


def test_an_ses_subscription_is_confirmed_only_for_a_configured_topic(
    ingress: IngressProcess, pki: Pki, sns_host: SnsHost
) -> None:
    def confirmation(topic: str, token: str) -> dict[str, Any]:
        return pki.sign({
            "Type": "SubscriptionConfirmation", "MessageId": "c-1", "Token": token,
            "TopicArn": topic, "Message": "You have chosen to subscribe.",
            "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
                            f"&TopicArn={topic}&Token={token}",
            "Timestamp": "2026-12-02T06:00:00.000Z", "SigningCertURL": CERT_URL,
        })  # fmt: skip

    other = httpx.post(ingress.url + "/ingress/ses", json=confirmation(TOPIC + "-x", "t-other"))
    ours = httpx.post(ingress.url + "/ingress/ses", json=confirmation(TOPIC, "t-ours"))
    assert (other.status_code, ours.status_code) == (403, 200)
    confirmed = [path for path in sns_host.requests if "ConfirmSubscription" in path]
    assert any("t-ours" in path for path in confirmed)
    assert not any("t-other" in path for path in confirmed)


def test_a_store_failure_is_a_503_that_providers_retry(tmp_path: Path, env: dict) -> None:
    down = {**env, "MAILBUS_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "MAILBUS_INGRESS_PORT": str(free_port())}  # fmt: skip
    process = IngressProcess(down)
    try:
        reply = httpx.post(process.url + "/ingress/postmark", auth=POSTMARK, timeout=30,
                           json=postmark_payload(message("no redis")))  # fmt: skip
    finally:
        process.stop()
    assert reply.status_code == 503
    assert "retry" in reply.json()["error"]


def test_ingress_without_any_provider_configured_refuses_to_start(env: dict) -> None:
    bare = {k: v for k, v in env.items()
            if k not in ("MAILBUS_MAILGUN_SIGNING_KEY", "MAILBUS_POSTMARK_AUTH",
                         "MAILBUS_SENDGRID_AUTH", "MAILBUS_SES_TOPICS")}  # fmt: skip
    result = mailbus("ingress", env=bare, timeout=30)
    assert result.returncode == 2
    assert "MAILBUS_POSTMARK_AUTH" in result.stdout + result.stderr
