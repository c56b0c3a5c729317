"""The S3 store: the record of truth on AWS, reached with boto3 (from threads on the listener).

The endpoint, region and credentials come from boto3's own chain (`AWS_ENDPOINT_URL_S3`,
`AWS_REGION`, task roles), so S3-compatible stores and moto's server work without extra settings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from mailbus.errors import NotFound, StoreError
from mailbus.stores.base import put_each_new

_MISSING = ("NoSuchKey", "404", "NotFound")


class S3Store:
    def __init__(
        self, bucket: str, prefix: str = "", *, client: Any = None, timeout: float = 60.0
    ) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.url = f"s3://{bucket}/{prefix}"
        self.client = client or boto3.client(
            "s3",
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=min(timeout, 10.0),
                read_timeout=timeout,
            ),
        )

    def put_raw(self, key: str, data: bytes, *, pipeline: Any = None) -> None:
        self.put(key, data)

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"s3 store: cannot write {key}: {exc}") from exc

    def put_new(self, items: Mapping[str, bytes]) -> None:
        put_each_new(self, items)

    def download_url(self, key: str, *, expires: int) -> str:
        """A presigned GET for `key`, valid `expires` seconds: how a webhook receiver fetches an
        attachment too big to send inline, without credentials of its own."""
        params = {"Bucket": self.bucket, "Key": self.prefix + key}
        return str(self.client.generate_presigned_url("get_object", Params=params,
                                                      ExpiresIn=expires))  # fmt: skip

    def get(self, key: str) -> bytes:
        return self._read(key)

    def get_head(self, key: str, size: int) -> bytes:
        return self._read(key, Range=f"bytes=0-{size - 1}")

    def _read(self, key: str, **options: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key, **options)
            return bytes(response["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise NotFound(f"s3 store: {key} not found") from exc
            raise StoreError(f"s3 store: cannot read {key}: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"s3 store: cannot read {key}: {exc}") from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return False
            raise StoreError(f"s3 store: cannot read {key}: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"s3 store: cannot read {key}: {exc}") from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"s3 store: cannot delete {key}: {exc}") from exc

    def renew(self, key: str) -> bool:
        """Copy the object onto itself: a new LastModified, from which the bucket's expiry
        rule (mailbus.stores.lifecycle) counts again."""
        name = self.prefix + key
        try:
            self.client.copy_object(Bucket=self.bucket, Key=name, MetadataDirective="REPLACE",
                                    CopySource={"Bucket": self.bucket, "Key": name})  # fmt: skip
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return False
            raise StoreError(f"s3 store: cannot renew {key}: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"s3 store: cannot renew {key}: {exc}") from exc

    def purge(self, key: str) -> None:
        """Delete every version of `key` (a versioned bucket keeps the bytes after `delete`, as
        a noncurrent version): what an erase request needs."""
        name = self.prefix + key
        try:
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=name
            )
            for page in pages:
                for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    if item["Key"] == name:
                        self.client.delete_object(Bucket=self.bucket, Key=name,
                                                  VersionId=item["VersionId"])  # fmt: skip
            self.client.delete_object(Bucket=self.bucket, Key=name)  # unversioned buckets
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"s3 store: cannot purge {key}: {exc}") from exc

    def keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        if start_after:
            args["StartAfter"] = self.prefix + start_after
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**args):
                for item in page.get("Contents", []):
                    yield item["Key"][len(self.prefix) :]
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"s3 store: cannot list {prefix}: {exc}") from exc
