"""The Redis store: raw bytes in the same Redis as the queue, written in the job's MULTI/EXEC."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import redis

from mailbus.errors import NotFound, StoreError

NAMESPACE = "mailbus:store:"


class RedisStore:
    """Raw messages expire after `raw_ttl` seconds so Redis memory stays bounded."""

    url = "redis"

    def __init__(self, connection: redis.Redis, *, raw_ttl: int | None = None) -> None:
        self.connection = connection
        self.raw_ttl = raw_ttl

    def redis_key(self, key: str) -> str:
        """The Redis key that holds `key`, for a caller reading it in a pipeline of its own."""
        return NAMESPACE + key

    def put_raw(self, key: str, data: bytes, *, pipeline: Any = None) -> None:
        target = pipeline if pipeline is not None else self.connection
        try:
            target.set(NAMESPACE + key, data, ex=self.raw_ttl)
        except redis.RedisError as exc:
            raise StoreError(f"redis store: cannot write {key}: {exc}") from exc

    def put(self, key: str, data: bytes) -> None:
        try:
            self.connection.set(NAMESPACE + key, data, ex=self.raw_ttl)
        except redis.RedisError as exc:
            raise StoreError(f"redis store: cannot write {key}: {exc}") from exc

    def put_new(self, items: Mapping[str, bytes]) -> None:
        """One round trip: SET NX per key, then EXPIRE it (an existing key is renewed)."""
        if not items:
            return
        try:
            with self.connection.pipeline(transaction=False) as pipe:
                for key, data in items.items():
                    pipe.set(NAMESPACE + key, data, ex=self.raw_ttl, nx=True)
                    if self.raw_ttl:
                        pipe.expire(NAMESPACE + key, self.raw_ttl)
                pipe.execute()
        except redis.RedisError as exc:
            raise StoreError(f"redis store: cannot write {', '.join(items)}: {exc}") from exc

    def get(self, key: str) -> bytes:
        try:
            data = self.connection.get(NAMESPACE + key)
        except redis.RedisError as exc:
            raise StoreError(f"redis store: cannot read {key}: {exc}") from exc
        if data is None:
            raise NotFound(f"redis store: {key} not found")
        return bytes(data)  # type: ignore[arg-type]

    def get_head(self, key: str, size: int) -> bytes:
        try:
            with self.connection.pipeline(transaction=False) as pipe:
                pipe.getrange(NAMESPACE + key, 0, size - 1)
                pipe.exists(NAMESPACE + key)
                data, found = pipe.execute()
        except redis.RedisError as exc:
            raise StoreError(f"redis store: cannot read {key}: {exc}") from exc
        if not found:
            raise NotFound(f"redis store: {key} not found")
        return bytes(data)

    def exists(self, key: str) -> bool:
        try:
            return bool(self.connection.exists(NAMESPACE + key))
        except redis.RedisError as exc:
            raise StoreError(f"redis store: cannot read {key}: {exc}") from exc

    def delete(self, key: str) -> None:
        try:
            self.connection.delete(NAMESPACE + key)
        except redis.RedisError as exc:
            raise StoreError(f"redis store: cannot delete {key}: {exc}") from exc

    def renew(self, key: str) -> bool:
        try:
            if not self.raw_ttl:
                return bool(self.connection.exists(NAMESPACE + key))
            return bool(self.connection.expire(NAMESPACE + key, self.raw_ttl))
        except redis.RedisError as exc:
            raise StoreError(f"redis store: cannot renew {key}: {exc}") from exc

    def keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        try:
            found = [
                k.decode() if isinstance(k, bytes) else str(k)
                for k in self.connection.scan_iter(match=NAMESPACE + prefix + "*", count=1000)
            ]
        except redis.RedisError as exc:
            raise StoreError(f"redis store: cannot list {prefix}: {exc}") from exc
        names = sorted(k.removeprefix(NAMESPACE) for k in found)
        yield from (k for k in names if k > start_after)
