"""The S3 expiry rule mailbus sets itself (mailbus.stores.lifecycle), against moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mailbus.stores import S3Store
from mailbus.stores.lifecycle import ensure_expiry

DAY = 86_400


@pytest.fixture
def store() -> Iterator[S3Store]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="mail")
        yield S3Store("mail", "inbound", client=client)


def rules(store: S3Store) -> list[dict[str, Any]]:
    answer = store.client.get_bucket_lifecycle_configuration(Bucket="mail")
    return list(answer["Rules"])


def test_mailbus_adds_its_rule_once_and_keeps_the_buckets_other_rules(store: S3Store) -> None:
    other = {"ID": "abort-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}  # fmt: skip
    store.client.put_bucket_lifecycle_configuration(
        Bucket="mail", LifecycleConfiguration={"Rules": [other]}
    )
    assert ensure_expiry(store, 30 * DAY) == "added"
    (kept, own) = rules(store)
    assert kept["ID"] == "abort-uploads"
    assert own["Filter"] == {"Prefix": "inbound/"} and own["Expiration"] == {"Days": 30}
    assert ensure_expiry(store, 30 * DAY) == "present"

    assert ensure_expiry(store, 7 * DAY + 1) == "updated"  # a shorter retention, whole days
    assert [r.get("Expiration") for r in rules(store)] == [None, {"Days": 8}]


def test_a_rule_that_already_expires_the_prefix_in_time_is_left_alone(store: S3Store) -> None:
    terraform = {"ID": "expire-mail", "Status": "Enabled", "Filter": {"Prefix": "inbound/"},
                 "Expiration": {"Days": 30}}  # fmt: skip
    store.client.put_bucket_lifecycle_configuration(
        Bucket="mail", LifecycleConfiguration={"Rules": [terraform]}
    )
    assert ensure_expiry(store, 30 * DAY) == "present"
    assert [r["ID"] for r in rules(store)] == ["expire-mail"]
    assert ensure_expiry(store, 10 * DAY) == "added"  # 30 days is longer than asked


def test_an_empty_bucket_gets_the_rule(store: S3Store) -> None:
    assert ensure_expiry(store, 1) == "added"
    assert rules(store)[0]["Expiration"] == {"Days": 1}
