"""The store contract again, against a real Redis server and a real S3-compatible HTTP endpoint."""

from __future__ import annotations

import uuid

import boto3
import pytest

from mailbus.stores import RedisStore, S3Store
from tests.unit.test_stores import check_contract

pytestmark = pytest.mark.integration


def test_redis_store_on_a_real_server(real_redis) -> None:
    check_contract(RedisStore(real_redis, raw_ttl=60))


def test_s3_store_over_http(aws_env) -> None:
    bucket = f"mailbus-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    check_contract(S3Store(bucket, "prefix"))
