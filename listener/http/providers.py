"""What each provider's webhook hands over, turned into the raw MIME and its envelope.

Every extractor authenticates first (a wrong secret learns nothing about the payload), then
returns an `Inbound` or raises `Refused` with the HTTP status the provider should see: 401 for
missing or wrong credentials, 403 for a bad signature or a replay, 400 for a payload that is
not what the provider documents.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

MAILGUN_MAX_AGE = 300.0  # seconds a Mailgun timestamp may be old (their docs' advice)


class Refused(Exception):
    """The request is answered with `status` and nothing is stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Inbound:
    """One message handed over by a provider: the bytes as the provider received them."""

    raw: bytes
    mail_from: str
    rcpt_tos: tuple[str, ...]
    source_id: str = ""
    client_ip: str = ""
    replay_token: str = ""  # remembered once the message is stored; seen again → 403


def check_basic_auth(header: str | None, expected: str) -> None:
    """HTTP basic auth against `user:password`, compared in constant time."""
    scheme, _, token = (header or "").partition(" ")
    try:
        given = base64.b64decode(token, validate=True) if scheme.lower() == "basic" else b""
    except (binascii.Error, ValueError):
        given = b""
    if not hmac.compare_digest(given, expected.encode()):
        raise Refused(401, "missing or wrong credentials")


def _field(form: dict[str, bytes], name: str, *, required: bool = True) -> bytes:
    value = form.get(name)
    if value is None and required:
        raise Refused(400, f"form field {name!r} is missing")
    return value or b""


def _text(form: dict[str, bytes], name: str, *, required: bool = True) -> str:
    return _field(form, name, required=required).decode("utf-8", "replace").strip()


def _addresses(value: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in value.split(",") if a.strip())


def mailgun(form: dict[str, bytes], signing_key: str, *, now: float | None = None) -> Inbound:
    """Mailgun's forward() to a URL ending in `mime`: HMAC-SHA256 of timestamp + token."""
    timestamp, token = _text(form, "timestamp"), _text(form, "token")
    signature = _text(form, "signature")
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), signature.lower()):
        raise Refused(403, "bad signature")
    try:
        age = (time.time() if now is None else now) - float(timestamp)
    except ValueError:
        raise Refused(403, "timestamp is not a number") from None
    if abs(age) > MAILGUN_MAX_AGE:
        raise Refused(403, f"timestamp is {age:.0f} s old")
    recipients = _addresses(_text(form, "recipient"))
    if not recipients:
        raise Refused(400, "no recipient")
    return Inbound(
        raw=_field(form, "body-mime"),
        mail_from=_text(form, "sender", required=False),
        rcpt_tos=recipients,
        source_id=token,
        replay_token=f"mailgun:{token}",
    )


def postmark(body: bytes) -> Inbound:
    """Postmark's inbound JSON with "include raw email content" on (`RawEmail`)."""
    data = _json_object(body)
    raw = data.get("RawEmail")
    if not isinstance(raw, str) or not raw:
        raise Refused(400, "RawEmail is missing: turn on 'Include raw email content' in Postmark")
    recipient = data.get("OriginalRecipient")
    if not isinstance(recipient, str) or not recipient:
        raise Refused(400, "OriginalRecipient is missing")
    return_path = ""
    for header in data.get("Headers") or ():
        if isinstance(header, dict) and str(header.get("Name", "")).lower() == "return-path":
            return_path = str(header.get("Value", "")).strip().strip("<>")
    return Inbound(
        raw=raw.encode("utf-8", "replace"),  # lone surrogates only: not a message
        mail_from=return_path,
        rcpt_tos=(recipient,),
        source_id=str(data.get("MessageID") or ""),
    )


def sendgrid(form: dict[str, bytes]) -> Inbound:
    """SendGrid Inbound Parse with "POST the raw, full MIME message" (`email`)."""
    try:
        envelope = json.loads(_field(form, "envelope"))
        rcpts = tuple(str(a) for a in envelope["to"])
        mail_from = str(envelope.get("from") or "")
    except (ValueError, KeyError, TypeError):
        raise Refused(400, 'envelope is not SendGrid\'s {"to": [...], "from": ...}') from None
    if not rcpts:
        raise Refused(400, "no recipient")
    return Inbound(
        raw=_field(form, "email"),
        mail_from=mail_from,
        rcpt_tos=rcpts,
        client_ip=_text(form, "sender_ip", required=False),
    )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting past the decoder's bound
        raise Refused(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "body is not a JSON object")
    return data
