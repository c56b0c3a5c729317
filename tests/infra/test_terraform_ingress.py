"""The optional HTTP ingress: off by default, HTTPS only, reachable through its ALB only, the
Procfile's command, and a task role that may add mail but not read it."""

from __future__ import annotations

from tests.infra.conftest import Module, block, ref

INGRESS_FILE = "ingress.tf"


def test_every_ingress_resource_exists_only_when_enabled(tf: Module) -> None:
    assert tf.variables()["ingress_enabled"]["default"] is False
    assert tf.locals()["ingress"] == "${var.ingress_enabled ? 1 : 0}"
    resources = tf.files[INGRESS_FILE]["resource"]
    for entry in resources:
        for type_name, named in entry.items():
            for name, body in named.items():
                gate = body.get("count") or body.get("for_each") or ""
                assert gate == "${local.ingress}" or gate.startswith("${var.ingress_enabled ?"), (
                    f"{type_name}.{name} is not gated on var.ingress_enabled"
                )


def test_the_alb_listens_on_443_with_https_only_and_a_tls13_policy(tf: Module) -> None:
    alb = tf.resource("aws_lb", "ingress")
    assert alb["load_balancer_type"] == "application" and alb["drop_invalid_header_fields"]
    listeners = {n: b for n, b in tf.resources("aws_lb_listener").items() if "ingress" in n}
    assert list(listeners) == ["ingress_https"]
    https = listeners["ingress_https"]
    assert (https["port"], https["protocol"]) == (443, "HTTPS")
    assert https["ssl_policy"].startswith("ELBSecurityPolicy-TLS13")
    action = block(https, "default_action")
    assert ref(action["target_group_arn"]) == "aws_lb_target_group.ingress[0].arn"
    condition = block(block(alb, "lifecycle"), "precondition")["condition"]
    assert "ingress_certificate_arn" in condition


def test_ingress_tasks_take_traffic_from_the_alb_only(tf: Module) -> None:
    rules = {n: b for n, b in tf.resources("aws_vpc_security_group_ingress_rule").items()
             if n.startswith("ingress_")}  # fmt: skip
    assert set(rules) == {"ingress_http", "ingress_health"}
    for rule in rules.values():
        assert ref(rule["referenced_security_group_id"]) == "aws_security_group.alb[0].id"
        assert "cidr_ipv4" not in rule


def test_the_task_runs_the_procfile_command_on_8026(tf: Module) -> None:
    locals_ = tf.locals()
    assert locals_["ingress_command"].startswith('${concat(["ingress"]')
    assert locals_["ingress_port"] == 8026
    service = tf.resource("aws_ecs_service", "ingress")
    lb = block(service, "load_balancer")
    assert (lb["container_name"], lb["container_port"]) == ("ingress", "${local.ingress_port}")
    container = tf.resource("aws_ecs_task_definition", "ingress")["container_definitions"]
    for setting in (
        "command = local.ingress_command",
        "readonlyRootFilesystem = true",
        "secrets = local.ingress_secrets",
        "healthCheck = local.health_check",
    ):
        assert setting in container, setting  # fmt: skip


def test_the_task_role_adds_raw_mail_and_reads_only_the_ses_bucket(tf: Module) -> None:
    policy = tf.data("aws_iam_policy_document", "ingress_task")
    assert policy["source_policy_documents"] == [
        "${data.aws_iam_policy_document.listener_task.json}"
    ]
    dynamic = policy["dynamic"][0]["statement"]
    assert dynamic["content"][0]["actions"] == ["s3:GetObject"]
    assert "ingress_ses_bucket_arn" in dynamic["for_each"]
