"""Least privilege: the listener may only put raw objects; the worker may not delete mail."""

from __future__ import annotations

from tests.infra.conftest import Module, ref


def _s3_actions(statements: list[dict]) -> set[str]:
    return {a for s in statements for a in s["actions"] if a.lower().startswith("s3:") or a == "*"}


def _policies_of_role(tf: Module, role: str) -> list[dict]:
    """Inline policy documents on `role`; managed attachments are returned as pseudo-documents."""
    found = []
    for body in tf.resources("aws_iam_role_policy").values():
        if ref(body["role"]) == f"aws_iam_role.{role}.id":
            name = ref(body["policy"]).removeprefix("data.aws_iam_policy_document.")
            found.append(tf.data("aws_iam_policy_document", name.removesuffix(".json")))
    for body in tf.resources("aws_iam_role_policy_attachment").values():
        if ref(body["role"]) == f"aws_iam_role.{role}.name":
            found.append({"managed": body["policy_arn"]})
    return found


def test_listener_task_role_may_only_put_objects(tf: Module) -> None:
    policies = _policies_of_role(tf, "listener_task")
    assert policies and all("statement" in p for p in policies), "no managed policies on it"
    statements = [s for p in policies for s in p["statement"]]
    assert _s3_actions(statements) == {"s3:PutObject"}
    for statement in statements:
        assert statement.get("effect", "Allow") == "Allow"
        for action in statement["actions"]:
            assert action not in {"*", "s3:*", "s3:GetObject", "s3:Get*", "s3:ListBucket"}


def test_listener_puts_only_under_the_raw_and_probe_prefixes(tf: Module) -> None:
    statements = tf.data("aws_iam_policy_document", "listener_task")["statement"]
    (put,) = [s for s in statements if "s3:PutObject" in s["actions"]]
    assert put["resources"] == [
        "${aws_s3_bucket.mail.arn}/${local.raw_prefix}*",
        "${aws_s3_bucket.mail.arn}/${local.probe_prefix}*",
    ]
    assert tf.locals()["raw_prefix"] == "${local.store_prefix}/raw/"


def test_worker_reads_raw_writes_attachments_and_never_deletes_mail(tf: Module) -> None:
    statements = tf.data("aws_iam_policy_document", "worker_task")["statement"]
    by_action: dict[str, set[str]] = {}
    for statement in statements:
        for action in statement["actions"]:
            by_action.setdefault(action, set()).update(statement["resources"])
    bucket = "${aws_s3_bucket.mail.arn}"
    assert f"{bucket}/${{local.raw_prefix}}*" in by_action["s3:GetObject"]
    assert f"{bucket}/${{local.attachments_prefix}}*" in by_action["s3:PutObject"]
    (renew,) = [s for s in statements if s.get("sid") == "RenewRawMessagesByCopy"]
    assert renew["resources"] == [f"{bucket}/${{local.raw_prefix}}*"]
    (copy_only,) = renew["condition"]  # raw/ is written only as a copy of a raw/ object
    assert copy_only["variable"] == "s3:x-amz-copy-source"
    assert copy_only["values"] == ["${aws_s3_bucket.mail.bucket}/${local.raw_prefix}*"]
    for statement in statements:
        if statement is not renew and "s3:PutObject" in statement["actions"]:
            assert f"{bucket}/${{local.raw_prefix}}*" not in statement["resources"]
    assert by_action["s3:GetLifecycleConfiguration"] == {bucket}  # reads, never changes, rules
    assert not any("PutLifecycle" in action for action in by_action)
    assert by_action["s3:ListBucket"] == {bucket}
    assert by_action.get("s3:DeleteObject", set()) <= {f"{bucket}/${{local.probe_prefix}}*"}
    assert "s3:*" not in by_action and "*" not in by_action


def test_task_and_execution_roles_are_distinct_per_role(tf: Module) -> None:
    for role in ("listener", "worker"):
        task = tf.resource("aws_ecs_task_definition", role)
        assert ref(task["task_role_arn"]) == f"aws_iam_role.{role}_task.arn"
        assert ref(task["execution_role_arn"]) == f"aws_iam_role.{role}_execution.arn"


def test_execution_roles_read_only_their_named_secrets(tf: Module) -> None:
    for role in ("listener", "worker"):
        document = tf.data("aws_iam_policy_document", f"{role}_execution_secrets")
        reads = [
            s for s in document["statement"] if "secretsmanager:GetSecretValue" in s["actions"]
        ]
        assert len(reads) == 1
        resources = reads[0]["resources"]
        text = resources if isinstance(resources, str) else " ".join(resources)
        assert "aws_secretsmanager_secret.redis.arn" in text
        assert "*" not in text.replace("${", "").replace("}", "")
