"""The store interface every backend implements, and the logical key scheme they share."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from mailbus.errors import StoreError

RAW_PREFIX = "raw/"
ATTACHMENT_PREFIX = "attachments/"
DONE_PREFIX = "done/"


def raw_key(message_id: str) -> str:
    return RAW_PREFIX + message_id


def attachment_key(sha256: str) -> str:
    return ATTACHMENT_PREFIX + sha256


def done_key(message_id: str) -> str:
    return DONE_PREFIX + message_id


class Store(Protocol):
    """Blocking operations; the listener calls them from a thread, never on its event loop."""

    url: str

    def put_raw(self, key: str, data: bytes, *, pipeline: Any = None) -> None:
        """Store raw bytes durably. The Redis store queues the write on `pipeline` (a MULTI
        transaction) so raw bytes and job commit together; other stores write at once."""

    def put(self, key: str, data: bytes) -> None:
        """Store bytes under a key (attachments, markers); overwriting the same bytes is fine."""

    def put_new(self, items: Mapping[str, bytes]) -> None:
        """Store each key that is not stored yet, leaving existing ones as they are but renewed:
        for content-addressed bytes (attachments), where an existing key already holds them."""

    def get(self, key: str) -> bytes:
        """Return the bytes under `key`; raise NotFound when absent, StoreError when down."""

    def get_head(self, key: str, size: int) -> bytes:
        """The first `size` bytes under `key` (all when shorter), as `get` fails: the console
        reads a message's headers without fetching its attachments."""

    def exists(self, key: str) -> bool:
        """Whether `key` is stored."""

    def delete(self, key: str) -> None:
        """Remove `key`; absent keys are not an error."""

    def keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        """Keys under `prefix` in lexical order (message ids sort by time), after `start_after`."""

    def renew(self, key: str) -> bool:
        """Restart `key`'s retention clock (MAILBUS_RETENTION counts from the last write or
        renewal); False when it is not stored. Keeps a dead letter's raw bytes, and an
        attachment a newer message shares, from expiring under them."""


def put_each_new(store: Store, items: Mapping[str, bytes]) -> None:
    """`put_new` for stores without a cheaper way: renew a key that is stored (a newer message
    shares it, so its clock restarts), write it where it is missing."""
    for key, data in items.items():
        if not store.renew(key):
            store.put(key, data)


def check_store(store: Store, *, write_only: bool = False) -> None:
    """Prove the store usable: write a probe, then read it back and delete it. With `write_only`
    (the listener, whose S3 role may only put objects) the write alone must succeed; the bucket's
    lifecycle rule expires the probe."""
    probe = "probe/check"
    store.put(probe, b"ok")
    if write_only:
        return
    if store.get(probe) != b"ok":
        raise StoreError(f"{store.url}: probe read back wrong bytes")
    store.delete(probe)
