"""SES receiving through SNS: verify the notification's signature, confirm subscriptions of the
topics we were told to trust, and take the message from `content` or from the S3 object an S3
action wrote.

The signing certificate is only ever fetched over https from an SNS host of amazonaws.com (the
URL in the message is checked before anything is fetched), cached by URL; SignatureVersion 1 is
SHA1withRSA and 2 SHA256withRSA over the fields AWS documents, in their order.
`MAILBUS_SNS_CERT_ENDPOINT` sends those fetches to another https origin (a private endpoint or
a test server) without loosening the check on the URL itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import ssl
import threading
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from listener.http.providers import Inbound, Refused

SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
FETCH_TIMEOUT = 10.0
MAX_CERTIFICATES = 32
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),  # fmt: skip
}
_SIGNED["UnsubscribeConfirmation"] = _SIGNED["SubscriptionConfirmation"]


class Sns:
    """Verifies SNS messages; one per process, so certificates are fetched once."""

    def __init__(
        self,
        topics: tuple[str, ...],
        *,
        endpoint: str | None = None,
        s3_get: Callable[[str, str], bytes] | None = None,
    ) -> None:
        self.topics = topics
        self.endpoint = endpoint
        self.s3_get = s3_get or _s3_get
        self._certificates: dict[str, rsa.RSAPublicKey] = {}
        self._lock = threading.Lock()

    def handle(self, body: bytes) -> Inbound | None:
        """The message of an SES notification, or None when the request was a confirmation."""
        note = _json(body)
        kind = str(note.get("Type", ""))
        if kind not in _SIGNED:
            raise Refused(400, f"not an SNS message type: {kind[:40]!r}")
        if note.get("TopicArn") not in self.topics:
            raise Refused(403, "topic is not in MAILBUS_SES_TOPICS")
        self.verify(note)
        if kind == "SubscriptionConfirmation":
            self._fetch(self._checked(str(note.get("SubscribeURL", "")), "SubscribeURL"))
            return None
        if kind == "UnsubscribeConfirmation":
            return None
        return self._received(_json(str(note.get("Message", "")).encode()))

    def verify(self, note: dict[str, Any]) -> None:
        version = str(note.get("SignatureVersion", ""))
        algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(version)
        if algorithm is None:
            raise Refused(403, f"unknown SignatureVersion {version[:8]!r}")
        try:
            signature = base64.b64decode(str(note.get("Signature", "")), validate=True)
        except (binascii.Error, ValueError):
            raise Refused(403, "signature is not base64") from None
        key = self._certificate(str(note.get("SigningCertURL", "")))
        try:
            key.verify(signature, _string_to_sign(note), padding.PKCS1v15(), algorithm)
        except InvalidSignature:
            raise Refused(403, "bad signature") from None

    def _received(self, message: dict[str, Any]) -> Inbound:
        if message.get("notificationType") != "Received":
            raise Refused(400, "not an SES 'Received' notification")
        try:
            mail, receipt = message["mail"], message["receipt"]
            action = receipt["action"]
            rcpts = tuple(str(r) for r in receipt.get("recipients") or mail["destination"])
        except (KeyError, TypeError):
            raise Refused(400, "SES notification without mail/receipt") from None
        if action.get("type") == "S3":
            raw = self.s3_get(str(action.get("bucketName")), str(action.get("objectKey")))
        elif isinstance(message.get("content"), str):
            content = message["content"]
            try:
                raw = (
                    base64.b64decode(content, validate=True)
                    if str(action.get("encoding", "UTF8")).upper() == "BASE64"
                    else content.encode("utf-8")
                )
            except (binascii.Error, ValueError):
                raise Refused(400, "content is not base64") from None
        else:
            raise Refused(400, "SES notification carries neither content nor an S3 object")
        return Inbound(
            raw=raw,
            mail_from=str(mail.get("source", "")),
            rcpt_tos=rcpts,
            source_id=str(mail.get("messageId", "")),
        )

    def _certificate(self, url: str) -> rsa.RSAPublicKey:
        with self._lock:
            key = self._certificates.get(url)
        if key is not None:
            return key
        pem = self._fetch(self._checked(url, "SigningCertURL"))
        try:
            found = x509.load_pem_x509_certificate(pem).public_key()
        except ValueError:
            raise Refused(403, "SigningCertURL does not serve a PEM certificate") from None
        if not isinstance(found, rsa.RSAPublicKey):
            raise Refused(403, "the signing certificate's key is not RSA")
        with self._lock:
            if len(self._certificates) >= MAX_CERTIFICATES:
                self._certificates.clear()
            self._certificates[url] = found
        return found

    def _checked(self, url: str, what: str) -> str:
        parts = urlsplit(url)
        if parts.scheme != "https" or not SNS_HOST.fullmatch(parts.hostname or ""):
            raise Refused(403, f"{what} is not an https URL of an SNS host of amazonaws.com")
        if parts.port not in (None, 443) or parts.username or parts.password:
            raise Refused(403, f"{what} names a port or credentials")
        return url

    def _fetch(self, url: str) -> bytes:
        if self.endpoint:
            origin = urlsplit(self.endpoint)
            parts = urlsplit(url)
            url = urlunsplit((origin.scheme, origin.netloc, parts.path, parts.query, ""))
        try:
            context = ssl.create_default_context()
            with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT, context=context) as reply:
                return bytes(reply.read(1 << 20))
        except OSError as exc:  # the provider retries: a fetch that failed is not a verdict
            raise Refused(503, f"cannot fetch {urlsplit(url).path}: {exc}") from None


def _string_to_sign(note: dict[str, Any]) -> bytes:
    lines = []
    for name in _SIGNED[str(note["Type"])]:
        if name in note and note[name] is not None:
            lines += [name, str(note[name])]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise Refused(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "body is not a JSON object")
    return data


def _s3_get(bucket: str, key: str) -> bytes:
    """The object an SES S3 action wrote (boto3's own configuration and credentials)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        reply = boto3.client("s3").get_object(Bucket=bucket, Key=key)
        return bytes(reply["Body"].read())
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchKey", "NoSuchBucket"):  # else (denied, throttled): retry later
            raise Refused(400, f"s3://{bucket}/{key}: {code}") from None
        raise Refused(503, f"s3://{bucket}/{key}: {code}") from None
    except BotoCoreError as exc:
        raise Refused(503, f"s3://{bucket}/{key}: {type(exc).__name__}") from None
