"""One contract, run against every store: fakeredis, moto (in-process) and a temp directory."""

from __future__ import annotations

import time
from collections.abc import Iterator

import boto3
import fakeredis
import pytest
from moto import mock_aws

from mailbus.errors import NotFound, StoreError
from mailbus.stores import FileStore, RedisStore, S3Store, Store, check_store, open_store


@pytest.fixture(params=["redis", "s3", "file"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    if request.param == "redis":
        yield RedisStore(fakeredis.FakeRedis(), raw_ttl=60)
    elif request.param == "s3":
        with mock_aws():
            client = boto3.client("s3", region_name="us-east-1")
            client.create_bucket(Bucket="mail-bucket")
            yield S3Store("mail-bucket", "inbound", client=client)
    else:
        yield FileStore(tmp_path / "store")


def check_contract(store: Store) -> None:
    store.put_raw("raw/01a", b"Subject: one\r\n\r\nbody\r\n")
    store.put("attachments/" + "ab" * 32, b"\x00\x01binary")
    assert store.get("raw/01a") == b"Subject: one\r\n\r\nbody\r\n"
    assert store.get_head("raw/01a", 7) == b"Subject"
    assert store.get_head("raw/01a", 65_536) == b"Subject: one\r\n\r\nbody\r\n"
    assert store.get("attachments/" + "ab" * 32) == b"\x00\x01binary"
    assert store.exists("raw/01a")
    assert not store.exists("raw/missing")
    with pytest.raises(NotFound):
        store.get("raw/missing")
    with pytest.raises(NotFound):
        store.get_head("raw/missing", 10)

    store.put_raw("raw/01b", b"two")
    store.put_raw("raw/01c", b"three")
    assert list(store.keys("raw/")) == ["raw/01a", "raw/01b", "raw/01c"]
    assert list(store.keys("raw/", start_after="raw/01a")) == ["raw/01b", "raw/01c"]

    store.put_new({"attachments/" + "ab" * 32: b"other", "attachments/" + "cd" * 32: b"new"})
    assert store.get("attachments/" + "ab" * 32) == b"\x00\x01binary"  # kept as it was
    assert store.get("attachments/" + "cd" * 32) == b"new"
    store.put_new({})

    store.put("raw/01a", b"replaced")
    assert store.get("raw/01a") == b"replaced"
    store.delete("raw/01a")
    store.delete("raw/never-was")
    assert not store.exists("raw/01a")
    check_store(store)
    check_store(store, write_only=True)


def test_store_contract(store: Store) -> None:
    check_contract(store)


def test_not_found_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError):
        store.get("raw/nothing")


def test_redis_store_writes_inside_the_callers_transaction() -> None:
    connection = fakeredis.FakeRedis()
    store = RedisStore(connection, raw_ttl=60)
    with connection.pipeline() as pipe:
        pipe.multi()
        store.put_raw("raw/x", b"bytes", pipeline=pipe)
        assert not store.exists("raw/x"), "nothing is visible before EXEC"
        pipe.execute()
    assert store.get("raw/x") == b"bytes"
    assert 0 < connection.ttl("mailbus:store:raw/x") <= 60


def test_file_store_leaves_no_temp_files_and_refuses_traversal(tmp_path) -> None:
    store = FileStore(tmp_path)
    store.put("raw/a", b"x")
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["a"]
    with pytest.raises(StoreError):
        store.put("../escape", b"x")


def test_open_store_picks_the_backend(tmp_path) -> None:
    connection = fakeredis.FakeRedis()
    assert isinstance(open_store("redis", connection), RedisStore)
    assert isinstance(open_store(f"file://{tmp_path}", connection), FileStore)
    with mock_aws():
        s3 = open_store("s3://bucket/some/prefix", connection)
    assert isinstance(s3, S3Store) and s3.prefix == "some/prefix/"


def test_renew_restarts_a_keys_retention_clock_and_put_new_renews_what_it_finds(
    store: Store,
) -> None:
    key = "attachments/" + "ef" * 32
    assert not store.renew(key)
    store.put(key, b"shared")
    before = _clock(store, key)
    time.sleep(1.1)  # S3's LastModified has whole seconds
    store.put_new({key: b"shared"})  # a newer message shares the attachment
    assert _clock(store, key) > before
    assert store.renew(key) and store.get(key) == b"shared"


def _clock(store: Store, key: str) -> float:
    """When the key's retention clock started (for Redis: now, less the TTL already spent)."""
    if isinstance(store, RedisStore):
        left = float(store.connection.pttl(store.redis_key(key))) / 1000  # type: ignore[arg-type]
        return time.time() - ((store.raw_ttl or 0) - left)
    if isinstance(store, FileStore):
        return (store.root / key).stat().st_mtime
    assert isinstance(store, S3Store)
    head = store.client.head_object(Bucket=store.bucket, Key=store.prefix + key)
    return float(head["LastModified"].timestamp())
