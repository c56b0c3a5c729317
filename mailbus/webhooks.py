"""Signed webhooks out: a parsed message POSTed as JSON to a service in any language.

`post_json(url, msg, secret=...)` sends `msg.to_dict()` with a schema version (or, with
`format="postmark"`, the JSON Postmark's inbound webhook sends, so existing consumers switch
unchanged), attachments inline as base64 while their total stays under `inline_max`. It signs
like Stripe: `Mailbus-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, which the receiver
checks with `verify`. A 2xx is done; any other status, a timeout or a connection error raises
`WebhookError`, so the route's handler fails and the message is retried with the usual backoff,
isolated from its other handlers, and dead-lettered in the end.

`forwarder(url, ...)` makes such a POST into a handler, which `Router.forward` registers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from mailbus.errors import WebhookError
from mailbus.message import Attachment, InboundMessage

SCHEMA_VERSION = 1
SIGNATURE_HEADER = "Mailbus-Signature"
INLINE_MAX = 1_000_000  # bytes of attachments sent inline, in total; the rest by reference
TIMEOUT = 10.0
LINK_TTL = 86_400  # seconds a link to an attachment sent by reference stays valid
TOLERANCE = 300  # seconds a receiver accepts a signature's timestamp by default


def sign(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """The `Mailbus-Signature` value for `body`."""
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def verify(body: bytes, header: str, secret: str, *, tolerance: int = TOLERANCE) -> bool:
    """What a receiver does: recompute the HMAC over "t.body" and check the timestamp's age."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if not parts.get("t", "").isdigit() or abs(time.time() - int(parts["t"])) > tolerance:
        return False
    expected = sign(body, secret, timestamp=int(parts["t"])).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def payload(
    msg: InboundMessage,
    *,
    format: str = "mailbus",
    inline_max: int = INLINE_MAX,
    link_ttl: int = LINK_TTL,
) -> dict[str, Any]:
    """The JSON body: our documented schema, or Postmark's inbound one."""
    attachments: list[tuple[Attachment, str | None, str | None]] = []
    budget = inline_max
    for attachment in msg.attachments:  # inline while the budget lasts, then by link
        size = len(attachment.read())
        inline = size <= budget
        budget -= size if inline else 0
        encoded = base64.b64encode(attachment.read()).decode() if inline else None
        link = None if inline else attachment.link(expires=link_ttl)
        attachments.append((attachment, encoded, link))
    if format == "postmark":
        return _postmark(msg, attachments)
    if format != "mailbus":
        raise ValueError(f"format must be 'mailbus' or 'postmark', not {format!r}")
    data = msg.to_dict()
    data["schema_version"] = SCHEMA_VERSION
    expiry = int(time.time()) + link_ttl
    for entry, (_, encoded, link) in zip(data["attachments"], attachments, strict=True):
        entry["content_base64"] = encoded
        entry["url"], entry["url_expires_at"] = link, expiry if link else None
    return data


def post_json(
    url: str,
    msg: InboundMessage,
    *,
    secret: str | None = None,
    format: str = "mailbus",
    timeout: float = TIMEOUT,
    inline_max: int = INLINE_MAX,
    link_ttl: int = LINK_TTL,
) -> int:
    """POST the message to `url`; return the 2xx status, raise WebhookError otherwise."""
    data = payload(msg, format=format, inline_max=inline_max, link_ttl=link_ttl)
    body = json.dumps(data).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "mailbus-webhook/1",
               "Mailbus-Message-Id": msg.id}  # fmt: skip
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        raise WebhookError(f"{url} answered {exc.code}") from None
    except (OSError, TimeoutError) as exc:  # URLError, refused, reset, timed out
        raise WebhookError(f"{url} failed: {getattr(exc, 'reason', exc)}") from None


def forwarder(
    url: str,
    *,
    secret: str | None = None,
    secret_env: str | None = None,
    format: str = "mailbus",
    timeout: float = TIMEOUT,
    inline_max: int = INLINE_MAX,
    link_ttl: int = LINK_TTL,
) -> Callable[..., None]:
    """A handler that POSTs each message to `url`, signed with `secret` or with the secret in
    the environment variable `secret_env`, read at call time so it never sits in the router's
    module (and a rotated secret needs no deploy of the handlers)."""
    payload(InboundMessage(), format=format)  # a wrong format fails at import, not at the mail

    def forward(msg: InboundMessage, **captures: str) -> None:  # captures: not needed here
        key = os.environ.get(secret_env) if secret_env else secret
        if secret_env and not key:
            raise WebhookError(f"{secret_env} is not set: cannot sign the webhook to {url}")
        post_json(url, msg, secret=key, format=format, timeout=timeout, inline_max=inline_max,
                  link_ttl=link_ttl)  # fmt: skip

    forward.__qualname__ = f"forward[{url}]"  # the handler's name in ledgers, logs and metrics
    forward.__module__ = __name__
    return forward


def _postmark(
    msg: InboundMessage, attachments: list[tuple[Attachment, str | None, str | None]]
) -> dict[str, Any]:
    def full(addresses: list[Any]) -> list[dict[str, str]]:
        return [{"Email": a.email, "Name": a.name, "MailboxHash": a.tag or ""} for a in addresses]

    def listed(addresses: list[Any]) -> str:
        return ", ".join(f'"{a.name}" <{a.email}>' if a.name else a.email for a in addresses)

    sender = msg.from_
    return {
        "From": sender.email if sender else "",
        "FromName": sender.name if sender else "",
        "FromFull": full([sender])[0] if sender else {},
        "To": listed(msg.to), "ToFull": full(msg.to),
        "Cc": listed(msg.cc), "CcFull": full(msg.cc),
        "Bcc": listed(msg.bcc), "BccFull": full(msg.bcc),
        "OriginalRecipient": msg.envelope.rcpt_tos[0] if msg.envelope.rcpt_tos else "",
        "ReplyTo": listed(msg.reply_to),
        "Subject": msg.subject,
        "MessageID": msg.id,
        "Date": msg.date.raw,
        "MailboxHash": next((a.tag for a in msg.to if a.tag), "") or "",
        "TextBody": msg.text or "",
        "HtmlBody": msg.html or "",
        "StrippedTextReply": msg.stripped_text or "",
        "Tag": "",
        "Headers": [{"Name": h.name, "Value": h.value} for h in msg.headers],
        "Attachments": [
            {"Name": a.filename, "Content": content, "ContentType": a.content_type,
             "ContentLength": a.size, "ContentID": a.content_id or "", "Url": link}
            for a, content, link in attachments
        ],
    }  # fmt: skip
