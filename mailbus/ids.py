"""Message ids: 26 lower-case base32 characters, time-ordered (like ULID) and safe as RQ job ids.

Time order lets `mailbus reconcile` list only the recent part of a store by key; the random part
makes ids unique across listener processes without coordination.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_message_id(now: float | None = None) -> str:
    millis = int((time.time() if now is None else now) * 1000)
    return _encode((millis << 80) | secrets.randbits(80))


def id_floor(epoch_seconds: float) -> str:
    """The smallest id that could have been made at `epoch_seconds` (for listing keys after it)."""
    return _encode(int(epoch_seconds * 1000) << 80)


def _encode(value: int) -> str:
    return "".join(_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


def id_time(message_id: str) -> float:
    """Epoch seconds at which `message_id` was made."""
    value = 0
    for char in message_id:
        value = value * 32 + _ALPHABET.index(char)
    return (value >> 80) / 1000
