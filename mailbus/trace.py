"""The trace block the listener prepends to every stored message, and reading it back.

Like an MTA's local delivery, the stored object starts with `Return-Path:`, one `X-Original-To:`
per envelope recipient and our `Received:` line (RFC 5321 §4.4). That makes the stored raw object
self-describing: `mailbus reconcile` can rebuild the envelope from it after Redis lost the job.
The dedupe digest covers the bytes *as received* plus the envelope, with the addresses' domains
in canonical form (mailbus.domains), so a sender's retry of a message we answered 451 is
recognised as the same message even when it spells a domain otherwise (`xn--` or Unicode).
Without a Message-ID the same bytes may be two messages (a script sending one alert twice), so
the workers dedupe those only when the listener recorded that it answered 451 to a copy it had
stored, or when a provider's webhook names its own message id again (workers.ledger).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
from typing import Any

from mailbus.domains import canonical_address
from mailbus.envelope import Envelope

_MESSAGE_ID = re.compile(rb"(?:^|\n)message-id[ \t]*:", re.IGNORECASE)
_HEADER_END = re.compile(rb"\n\r?\n")


def _clean(value: str) -> str:
    """Header-safe text: the listener already refused CR, LF and NUL in addresses; be sure."""
    return "".join(ch for ch in value if ch >= " " and ch != "\x7f")


def trace_headers(envelope: Envelope, message_id: str, hostname: str) -> bytes:
    rcpts = envelope.rcpt_tos
    peer_ip = envelope.peer.rsplit(":", 1)[0] if envelope.peer else "unknown"
    protocol = ("UTF8" if envelope.smtputf8 else "") + ("ESMTPS" if envelope.tls else "ESMTP")
    if envelope.source != "smtp":  # handed over by a provider's webhook (mailbus ingress)
        protocol = f"HTTPS ({_clean(envelope.source)} {_clean(envelope.source_id)})".replace(
            " )", ")"
        )
    received = (
        f"Received: from {_clean(envelope.helo) or 'unknown'} ([{_clean(peer_ip)}])\r\n"
        f"\tby {_clean(hostname)} (mailbus) with {protocol} id {message_id}"
        + (f"\r\n\tfor <{_clean(rcpts[0])}>" if len(rcpts) == 1 else "")
        + f"; {email.utils.formatdate(envelope.received_at or None, usegmt=True)}\r\n"
    )
    lines = [f"Return-Path: <{_clean(envelope.mail_from)}>\r\n"]
    lines += [f"X-Original-To: {_clean(rcpt)}\r\n" for rcpt in rcpts]
    lines.append(received)
    return "".join(lines).encode("utf-8")


def split_trace(stored: bytes) -> tuple[Envelope, bytes]:
    """Undo `trace_headers`: the envelope it recorded and the bytes as received."""
    mail_from = ""
    rcpts: list[str] = []
    position = 0
    while True:
        end = stored.find(b"\r\n", position)
        if end < 0:
            break
        line = stored[position:end]
        lower = line.lower()
        if lower.startswith(b"return-path:"):
            mail_from = line.split(b":", 1)[1].strip().strip(b"<>").decode("utf-8", "replace")
        elif lower.startswith(b"x-original-to:"):
            rcpts.append(line.split(b":", 1)[1].strip().decode("utf-8", "replace"))
        elif lower.startswith(b"received:"):
            position = end + 2
            while stored[position : position + 1] in (b"\t", b" "):  # folded lines
                position = stored.find(b"\r\n", position) + 2
            break
        else:
            break
        position = end + 2
    return Envelope(mail_from=mail_from, rcpt_tos=tuple(rcpts)), stored[position:]


def has_message_id(stored: bytes) -> bool:
    """Whether the header block of a stored message has a Message-ID field: only then is a copy
    with the same digest the same message (a sender's retry), not a second identical one."""
    end = _HEADER_END.search(stored)
    return _MESSAGE_ID.search(stored, 0, end.start() if end else len(stored)) is not None


def delivery_digest(received: bytes, envelope: Envelope) -> str:
    """sha256 over the bytes as received and the envelope: the dedupe key of one delivery."""
    return finish_digest(hashlib.sha256(received), envelope)


def finish_digest(hasher: Any, envelope: Envelope) -> str:
    """The delivery digest from a sha256 already fed the bytes as received (the listener hashes
    them as they arrive, so it never joins a copy of the message)."""
    rcpts = sorted(canonical_address(rcpt) for rcpt in envelope.rcpt_tos)
    fields: list[Any] = [canonical_address(envelope.mail_from), rcpts]
    if envelope.source_id:  # a provider's retry carries its id again: the same delivery
        fields += [envelope.source, envelope.source_id]
    hasher.update(b"\0" + json.dumps(fields).encode())
    return str(hasher.hexdigest())
