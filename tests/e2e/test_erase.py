"""`mailbus erase` and `mailbus failed` over messages a real listener and worker stored, in each
store: a real Redis server, moto's S3 server (a versioned bucket) and a directory."""

from __future__ import annotations

import hashlib
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import boto3
import pytest
import redis

from mailbus.erase import INDEX
from mailbus.status import status_key
from tests.e2e.harness import PNG, Listener, handled, mailbus, mailbus_env, queued_id, send
from tests.e2e.test_pipeline import open_test_store

pytestmark = pytest.mark.e2e
OTHER = b"%PDF-1.4 carol's own attachment"


@pytest.fixture(params=["redis", "s3", "file"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, aws_env: dict[str, str]) -> str:
    if request.param == "redis":
        return "redis"
    if request.param == "s3":
        bucket = f"mailbus-erase-{uuid.uuid4().hex[:10]}"
        client = boto3.client("s3")
        client.create_bucket(Bucket=bucket)
        client.put_bucket_versioning(  # as infra/terraform/s3.tf: deleted bytes stay as versions
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
        )
        return f"s3://{bucket}/mail"
    return f"file://{tmp_path / 'store'}"


def message(sender: str, *, cc: str | None = None, attachment: bytes | None = PNG) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support@example.com"
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = f"from {sender}"
    msg.set_content("hello\n")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream",
                           filename="file.bin")  # fmt: skip
    return bytes(msg)


def attachment(data: bytes) -> str:
    return "attachments/" + hashlib.sha256(data).hexdigest()


def test_erase_an_address_then_one_message_in_every_store(
    store_url: str, tmp_path: Path, real_redis: redis.Redis, redis_server, aws_env
) -> None:
    env = mailbus_env(tmp_path, redis_server.url, store_url, **aws_env)
    with Listener(env) as listener:
        ada = queued_id(send(listener.port, message("Ada <ada@example.org>"))[1])
        bob = queued_id(send(listener.port, message("bob@example.net"),  # shares Ada's PNG
                             mail_from="bob@example.net")[1])  # fmt: skip
        carol = queued_id(send(listener.port, message("carol@example.net", cc="ADA@Example.ORG",
                                                      attachment=OTHER),
                               mail_from="carol@example.net")[1])  # fmt: skip
        dave = queued_id(send(listener.port, message("dave@example.net", attachment=None),
                              mail_from="dave@example.net")[1])  # fmt: skip
    assert mailbus("worker", "--burst", env=env).returncode == 0
    assert len(handled(env)) == 4
    real_redis.zadd(INDEX, {ada: time.time()})  # the console's index (branch i14-console)
    store = open_test_store(store_url, real_redis)
    everything = {f"raw/{m}" for m in (ada, bob, carol, dave)}
    everything |= {attachment(PNG), attachment(OTHER)}
    assert all(store.exists(key) for key in everything)

    dry = mailbus("erase", "--address", "ada@example.org", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    marker = "" if store_url == "redis" else f" done/{ada}"  # only s3/file keep done markers
    assert f"would erase {ada}: raw/{ada}{marker} rq:job:{ada} {status_key(ada)}" in dry.stdout
    assert f"would erase {carol}: raw/{carol}" in dry.stdout
    assert f"would erase {attachment(OTHER)}\n" in dry.stdout
    assert "would erase 2 message(s) and 1 attachment(s) (dry run" in dry.stdout
    assert all(store.exists(key) for key in everything)

    done = mailbus("erase", "--address", "ada@example.org", env=env)
    assert done.returncode == 0, done.stderr
    assert "erased 2 message(s) and 1 attachment(s)" in done.stdout
    for gone in (ada, carol):
        assert not store.exists(f"raw/{gone}") and not store.exists(f"done/{gone}")
        assert not real_redis.exists(status_key(gone), f"rq:job:{gone}")
        assert mailbus("show", gone, env=env).returncode == 1
    assert real_redis.zscore(INDEX, ada) is None
    assert not store.exists(attachment(OTHER))
    assert store.exists(attachment(PNG)), "Bob's message still refers to it"
    assert store.exists(f"raw/{bob}") and store.exists(f"raw/{dave}")
    assert real_redis.exists(status_key(bob))
    if store_url.startswith("s3://"):
        bucket = store_url.removeprefix("s3://").split("/")[0]
        listed = boto3.client("s3").list_object_versions(Bucket=bucket, Prefix=f"mail/raw/{ada}")
        assert not listed.get("Versions") and not listed.get("DeleteMarkers")

    one = mailbus("erase", "--id", bob, env=env)
    assert one.returncode == 0, one.stderr
    assert f"erased {attachment(PNG)}\n" in one.stdout
    assert "erased 1 message(s) and 1 attachment(s)" in one.stdout
    assert not store.exists(f"raw/{bob}") and not store.exists(attachment(PNG))
    assert store.exists(f"raw/{dave}")
    assert mailbus("erase", "--id", bob, env=env).returncode == 1  # nothing left of it


def test_failed_says_when_a_dead_letters_raw_bytes_are_gone(
    tmp_path: Path, real_redis: redis.Redis, redis_server
) -> None:
    flag = tmp_path / "fail"
    flag.touch()
    store_url = f"file://{tmp_path / 'store'}"
    env = mailbus_env(tmp_path, redis_server.url, store_url, MAILBUS_RETRIES="0",
                      E2E_FAIL_FLAG=str(flag))  # fmt: skip
    with Listener(env) as listener:
        kept = queued_id(send(listener.port, message("ada@example.org"))[1])
        expired = queued_id(send(listener.port, message("bob@example.org"))[1])
    assert mailbus("worker", "--burst", env=env).returncode == 0
    open_test_store(store_url, real_redis).delete(f"raw/{expired}")  # as the retention does

    listing = mailbus("failed", "list", env=env)
    assert listing.returncode == 0, listing.stderr
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()}
    assert "raw gone" in lines[expired] and "raw gone" not in lines[kept]
    assert "2 dead letter(s), 1 whose raw bytes are gone" in listing.stdout
