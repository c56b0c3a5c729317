"""The provider extractors and checks on their own: no server, no network."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from listener.http import providers
from listener.http.forms import parse_form
from listener.http.providers import Refused
from listener.http.ses import Sns


def form_body(fields: dict[str, bytes], boundary: str = "b0undary") -> tuple[str, bytes]:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value + b"\r\n"
        for name, value in fields.items()
    ]  # fmt: skip
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def test_a_form_field_keeps_its_bytes_exactly() -> None:
    raw = b"Subject: x\r\n\r\nGr\xfc\xdfe\r\n\x00\xff\r\n"
    fields = parse_form(*form_body({"email": raw, "envelope": b"{}"}))
    assert fields == {"email": raw, "envelope": b"{}"}


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/json", b"{}"),
        ("multipart/form-data", b"--x\r\n"),  # no boundary
        ("multipart/form-data; boundary=x", b"garbage without any boundary line"),
    ],
)
def test_what_is_not_a_form_is_a_400(content_type: str, body: bytes) -> None:
    with pytest.raises(Refused) as refused:
        parse_form(content_type, body)
    assert refused.value.status == 400


def test_mailgun_checks_signature_and_age() -> None:
    key, stamp, token = "key-1", "1700000000", "tok"
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    form = {
        "timestamp": stamp.encode(),
        "token": token.encode(),
        "signature": signature.encode(),
        "recipient": b"a@example.com, b@example.com",
        "body-mime": b"Subject: x\r\n\r\n",
    }
    inbound = providers.mailgun(form, key, now=1_700_000_100)
    assert inbound.rcpt_tos == ("a@example.com", "b@example.com")
    assert inbound.replay_token == "mailgun:tok"
    with pytest.raises(Refused, match="old"):
        providers.mailgun(form, key, now=1_700_000_301)
    with pytest.raises(Refused, match="bad signature"):
        providers.mailgun(form, "key-2", now=1_700_000_100)


def test_basic_auth_is_checked_exactly() -> None:
    good = "Basic " + base64.b64encode(b"user:pw").decode()
    providers.check_basic_auth(good, "user:pw")
    for header in (
        None,
        "Basic !!!",
        "Bearer user:pw",
        "Basic " + base64.b64encode(b"user:p").decode(),
    ):
        with pytest.raises(Refused) as refused:
            providers.check_basic_auth(header, "user:pw")
        assert refused.value.status == 401


def test_postmark_takes_the_envelope_sender_from_return_path() -> None:
    body = json.dumps({
        "RawEmail": "Subject: x\r\n\r\nhi",
        "OriginalRecipient": "s@example.com",
        "MessageID": "m-1",
        "Headers": [{"Name": "Return-Path", "Value": "<b@example.org>"}],
    })  # fmt: skip
    inbound = providers.postmark(body.encode())
    assert (inbound.mail_from, inbound.rcpt_tos, inbound.source_id) == (
        "b@example.org", ("s@example.com",), "m-1")  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem",
    ],
)
def test_sns_certificate_urls_of_sns_hosts_are_allowed(url: str) -> None:
    assert Sns(())._checked(url, "SigningCertURL") == url


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem",
        "https://s3.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
        "https://user@sns.us-east-1.amazonaws.com/cert.pem",
        "",
    ],
)
def test_other_certificate_urls_are_refused_before_any_fetch(url: str) -> None:
    with pytest.raises(Refused) as refused:
        Sns(())._checked(url, "SigningCertURL")
    assert refused.value.status == 403
