"""The bucket (record of truth on AWS) and the Redis queue, as the issue asks for them."""

from __future__ import annotations

from tests.infra.conftest import Module, block, ref


def _for_bucket(tf: Module, kind: str) -> dict:
    matches = [
        body
        for body in tf.resources(kind).values()
        if ref(body["bucket"]) == "aws_s3_bucket.mail.id"
    ]
    assert len(matches) == 1, f"expected one {kind} for the mail bucket"
    return matches[0]


def test_bucket_is_encrypted_by_default(tf: Module) -> None:
    sse = _for_bucket(tf, "aws_s3_bucket_server_side_encryption_configuration")
    default = block(block(sse, "rule"), "apply_server_side_encryption_by_default")
    assert default["sse_algorithm"] in {"aws:kms", "AES256"}
    if default["sse_algorithm"] == "aws:kms":
        assert ref(default["kms_master_key_id"]) == "aws_kms_key.main.arn"


def test_bucket_public_access_is_fully_blocked(tf: Module) -> None:
    pab = _for_bucket(tf, "aws_s3_bucket_public_access_block")
    for flag in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert pab[flag] is True, flag


def test_bucket_is_versioned(tf: Module) -> None:
    versioning = _for_bucket(tf, "aws_s3_bucket_versioning")
    assert block(versioning, "versioning_configuration")["status"] == "Enabled"


def test_lifecycle_expires_mail_after_retention_days_and_aborts_uploads(tf: Module) -> None:
    rules = _for_bucket(tf, "aws_s3_bucket_lifecycle_configuration")["rule"]
    enabled = [r for r in rules if r["status"] == "Enabled"]
    expiring = [r for r in enabled if "expiration" in r]
    assert [block(r, "expiration")["days"] for r in expiring] == ["${var.retention_days}"]
    aborting = [r for r in enabled if "abort_incomplete_multipart_upload" in r]
    assert aborting and block(aborting[0], "filter") == {}  # bucket-wide
    retention = tf.variables()["retention_days"]
    assert retention["type"] == "number" and retention["description"]


def test_bucket_policy_denies_every_request_without_tls(tf: Module) -> None:
    policy = _for_bucket(tf, "aws_s3_bucket_policy")
    assert ref(policy["policy"]) == "data.aws_iam_policy_document.mail_bucket.json"
    document = tf.data("aws_iam_policy_document", "mail_bucket")
    denies = [s for s in document["statement"] if s.get("effect") == "Deny"]
    assert denies
    statement = denies[0]
    assert statement["actions"] == ["s3:*"]
    assert set(statement["resources"]) == {
        "${aws_s3_bucket.mail.arn}",
        "${aws_s3_bucket.mail.arn}/*",
    }
    condition = block(statement, "condition")
    assert condition == {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}


def test_tasks_are_told_to_store_in_the_bucket(tf: Module) -> None:
    env = tf.locals()["common_environment"]
    assert 'MAILBUS_STORE = "s3://${aws_s3_bucket.mail.bucket}/${local.store_prefix}"' in env


def test_redis_flavor_is_validated_and_gates_exactly_one_backend(tf: Module) -> None:
    variable = tf.variables()["redis_flavor"]
    assert variable["default"] == "elasticache"
    assert "memorydb" in block(variable, "validation")["condition"]
    for kind, body in tf.resources("aws_elasticache_replication_group").items():
        assert body["count"] == "${local.use_elasticache ? 1 : 0}", kind
    for kind in ("aws_memorydb_cluster", "aws_memorydb_user", "aws_memorydb_acl"):
        for body in tf.resources(kind).values():
            assert body["count"] == "${local.use_memorydb ? 1 : 0}", kind


def test_elasticache_is_valkey_multi_az_encrypted_with_auth(tf: Module) -> None:
    group = tf.resource("aws_elasticache_replication_group", "redis")
    assert group["engine"] == "valkey"
    assert group["multi_az_enabled"] is True
    assert group["automatic_failover_enabled"] is True
    assert group["transit_encryption_enabled"] is True
    assert group["at_rest_encryption_enabled"] is True
    assert ref(group["auth_token"]) == "random_password.redis.result"


def test_memorydb_uses_tls_and_an_acl_user(tf: Module) -> None:
    cluster = tf.resource("aws_memorydb_cluster", "redis")
    assert cluster["tls_enabled"] is True
    assert ref(cluster["acl_name"]) == "aws_memorydb_acl.redis[0].name"


def test_queue_never_evicts(tf: Module) -> None:
    for kind in ("aws_elasticache_parameter_group", "aws_memorydb_parameter_group"):
        parameter = block(tf.resource(kind, "redis"), "parameter")
        assert parameter == {"name": "maxmemory-policy", "value": "noeviction"}


def test_redis_url_reaches_tasks_as_a_secret_not_plain_environment(tf: Module) -> None:
    secret = tf.locals()["redis_secret"]
    assert secret == [
        {"name": "MAILBUS_REDIS_URL", "valueFrom": "${aws_secretsmanager_secret.redis.arn}:url::"}
    ]
    assert tf.locals()["redis_url"].startswith("rediss://")
    for role in ("listener", "worker"):
        assert "MAILBUS_REDIS_URL" not in tf.locals()[f"{role}_environment"]


def test_outputs_name_the_nlb_bucket_and_redis_endpoint(tf: Module) -> None:
    outputs = tf.outputs()
    assert ref(outputs["nlb_dns_name"]["value"]) == "aws_lb.smtp.dns_name"
    assert ref(outputs["bucket_name"]["value"]) == "aws_s3_bucket.mail.bucket"
    assert "local.redis_host" in outputs["redis_endpoint"]["value"]
