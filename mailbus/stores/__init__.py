"""Where raw messages and attachments live: Redis, S3 or a directory, behind one small interface.

Keys are logical and the same in every store: `raw/<message id>` for the bytes as received (with
our trace headers prepended), `attachments/<sha256>` for attachment content and `done/<message id>`
for the marker a worker leaves when a message is finished, so a key in a log line or in
`msg.raw.key` means the same thing whichever store holds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis

from mailbus.envvalues import StoreLocation
from mailbus.stores.base import Store, attachment_key, check_store, raw_key
from mailbus.stores.file import FileStore
from mailbus.stores.redis import RedisStore

if TYPE_CHECKING:
    from mailbus.stores.s3 import S3Store

__all__ = [
    "FileStore",
    "RedisStore",
    "S3Store",
    "Store",
    "attachment_key",
    "check_store",
    "open_store",
    "raw_key",
]


def __getattr__(name: str) -> Any:
    """S3Store is imported on first use: boto3 adds ~85 ms to every process start, which only
    S3 users should pay."""
    if name == "S3Store":
        from mailbus.stores.s3 import S3Store

        return S3Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(
    url: str, connection: redis.Redis, *, raw_ttl: int | None = None, timeout: float = 60.0
) -> Store:
    """Build the store named by MAILBUS_STORE; `connection` serves the `redis` store.

    `timeout` bounds one S3 request (connect and each read); the listener passes its persist
    timeout so a stalled S3 cannot hold a persist slot for minutes."""
    location = url if isinstance(url, StoreLocation) else StoreLocation(url)
    if location.kind == "s3":
        from mailbus.stores.s3 import S3Store

        return S3Store(bucket=location.bucket, prefix=location.prefix, timeout=timeout)
    if location.kind == "file":
        return FileStore(location.path)
    return RedisStore(connection, raw_ttl=raw_ttl)
