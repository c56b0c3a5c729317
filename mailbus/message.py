"""The parsed message handed to handlers: `InboundMessage` and the small typed records in it.

This module owns the schema only; `mailbus.parse` fills it. Every record is a plain dataclass so
handlers get attribute access and type checking, and `InboundMessage.to_dict()` gives a stable,
JSON-safe view (no attachment bytes) for logs, the status store and webhooks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any

from mailbus.auth.results import AuthResults
from mailbus.envelope import Envelope


@dataclass(frozen=True)
class RawInfo:
    """Where the bytes as received live, so a handler can always fall back to them: `read()`
    fetches them from whichever store holds them (the worker sets the reader)."""

    key: str = ""
    size: int = 0
    sha256: str = ""
    _reader: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)

    def read(self) -> bytes:
        """The stored bytes: our trace headers, then the message exactly as received."""
        if self._reader is None:
            raise RuntimeError(
                "this message has no store behind it (parsed outside a worker): "
                "its raw bytes are what you parsed"
            )
        return self._reader()


@dataclass(frozen=True)
class Header:
    """One header field as it appeared; duplicates are kept in order (RFC 5322 allows many)."""

    name: str
    value_raw: str
    value: str


@dataclass(frozen=True)
class DateInfo:
    """The sender's Date: string, and its parsed form when it could be parsed (often it cannot)."""

    raw: str = ""
    parsed: datetime | None = None


@dataclass(frozen=True)
class Address:
    """One mailbox; `tag` is the +plus part of the local part (Postmark's MailboxHash).

    `group` names the RFC 5322 group the mailbox was listed in (`Team: a@x, b@y;`), else None.
    """

    name: str
    email: str
    local: str = ""
    domain: str = ""
    tag: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Body:
    """A body part that is neither the main text nor the main HTML (text/enriched, a DSN, …)."""

    content_type: str
    text: str
    charset: str = ""


@dataclass
class Attachment:
    """One attachment; the content stays in memory until the worker stores it (`storage_key`).

    `parent` is the index of the attachment this one came out of: a forwarded message/rfc822 or a
    TNEF winmail.dat. `detected_type` comes from the bytes, `content_type` from the sender.
    `is_encrypted` marks an S/MIME or PGP encrypted body, which only the recipient can open.
    """

    index: int
    filename: str
    filename_raw: str | None
    content_type: str
    detected_type: str | None
    size: int
    sha256: str
    content_id: str | None = None
    disposition: str | None = None
    is_inline: bool = False
    is_message: bool = False
    is_encrypted: bool = False
    parent: int | None = None
    part: str = ""
    storage_key: str | None = None
    _content: bytes = field(default=b"", repr=False, compare=False)
    _linker: Callable[[int], str | None] | None = field(default=None, repr=False, compare=False)

    def read(self) -> bytes:
        """The decoded content (transfer encoding removed)."""
        return self._content

    def link(self, *, expires: int = 86_400) -> str | None:
        """A URL that fetches the stored content without credentials for `expires` seconds
        (a presigned URL with the S3 store), or None where the store has no such links."""
        return self._linker(expires) if self._linker is not None else None


@dataclass(frozen=True)
class BounceRecipient:
    """Per-recipient fields of an RFC 3464 delivery status notification."""

    final_recipient: str
    action: str = ""
    status: str = ""
    diagnostic: str = ""
    original_recipient: str = ""


@dataclass(frozen=True)
class Bounce:
    """A non-delivery report; `is_dsn` is False when found by heuristics (no RFC 3464 part)."""

    is_dsn: bool
    reporting_mta: str = ""
    recipients: list[BounceRecipient] = field(default_factory=list)


@dataclass(frozen=True)
class FeedbackReport:
    """An RFC 5965 ARF abuse/feedback report (a spam complaint from a mailbox provider)."""

    feedback_type: str
    source_ip: str = ""
    user_agent: str = ""
    original_mail_from: str = ""
    original_rcpt_to: list[str] = field(default_factory=list)
    arrival_date: str = ""
    reported_domain: str = ""


@dataclass(frozen=True)
class Classification:
    """What kind of mail this is, so handlers can ignore auto-replies and process bounces."""

    auto_reply: bool = False
    auto_reply_reason: str | None = None
    bounce: Bounce | None = None
    feedback_report: FeedbackReport | None = None
    calendar_method: str | None = None


@dataclass(frozen=True)
class Security:
    """Signed and encrypted mail: `signed`/`encrypted` are "smime", "pgp" or None.

    For an S/MIME signature, the signer certificate's subject and e-mail address. Nothing is
    verified (not the signature, not the chain): treat these as claims.
    """

    signed: str | None = None
    encrypted: str | None = None
    signer_subject: str | None = None
    signer_email: str | None = None


@dataclass(frozen=True)
class Defect:
    """Something wrong with the input that the parser worked around; `part` is a path like "1.2"."""

    part: str
    kind: str
    detail: str = ""


@dataclass
class InboundMessage:
    """A parsed inbound message, as given to handlers; built by `mailbus.parse`, never raises.

    `text` is the first text/plain body part; when the message only has HTML, `text` is derived
    from it by stripping tags and `text_from_html` is True. `stripped_text` is `text` without
    quoted history and signature; `signature` is the signature block found, else None;
    `stripped_html` is `html` without the quoted message.
    `cid_map` maps Content-ID (without <>) to its attachment.
    `from_` is the first From mailbox; `from_all` keeps them all (RFC 5322 allows several).
    `auth` holds the SPF/DKIM/DMARC/ARC/iprev verdicts the worker computed before dispatch.
    """

    id: str = ""
    received_at: datetime | None = None
    raw: RawInfo = field(default_factory=RawInfo)
    envelope: Envelope = field(default_factory=Envelope)
    headers: list[Header] = field(default_factory=list)
    subject: str = ""
    date: DateInfo = field(default_factory=DateInfo)
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    from_: Address | None = None
    from_all: list[Address] = field(default_factory=list)
    sender: Address | None = None
    reply_to: list[Address] = field(default_factory=list)
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    text: str | None = None
    html: str | None = None
    text_from_html: bool = False
    other_bodies: list[Body] = field(default_factory=list)
    stripped_text: str | None = None
    stripped_html: str | None = None
    signature: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    cid_map: dict[str, Attachment] = field(default_factory=dict)
    classification: Classification = field(default_factory=Classification)
    security: Security = field(default_factory=Security)
    defects: list[Defect] = field(default_factory=list)
    limits_hit: list[str] = field(default_factory=list)
    auth: AuthResults = field(default_factory=AuthResults)

    def header(self, name: str) -> str | None:
        """The decoded value of the first header called `name` (case-insensitive), else None."""
        wanted = name.lower()
        return next((h.value for h in self.headers if h.name.lower() == wanted), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe view: datetimes as ISO 8601, cid_map as attachment indexes, no content."""
        data: dict[str, Any] = {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}
        data["envelope"] = self.envelope.to_dict()
        data["cid_map"] = {cid: att.index for cid, att in self.cid_map.items()}
        return data


def _jsonable(value: Any) -> Any:
    """Convert our records to JSON primitives, skipping private fields such as attachment bytes."""
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _jsonable(getattr(value, f.name))
            for f in fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return None
    return value
