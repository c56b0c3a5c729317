"""The front door and the fences: TCP 25 reaches the listener with PROXY v2; Redis, only tasks."""

from __future__ import annotations

from tests.infra.conftest import Module, block, ref


def test_nlb_is_an_internet_facing_network_load_balancer(tf: Module) -> None:
    nlb = tf.resource("aws_lb", "smtp")
    assert nlb["load_balancer_type"] == "network"
    assert nlb["internal"] is False


def test_port_25_forwards_to_the_listener_target_group(tf: Module) -> None:
    listener = tf.resource("aws_lb_listener", "smtp")
    assert listener["port"] == 25
    assert listener["protocol"] == "TCP"
    assert ref(listener["load_balancer_arn"]) == "aws_lb.smtp.arn"
    action = block(listener, "default_action")
    assert action["type"] == "forward"
    assert ref(action["target_group_arn"]) == "aws_lb_target_group.listener.arn"


def test_listener_target_group_is_2525_with_proxy_protocol_v2(tf: Module) -> None:
    group = tf.resource("aws_lb_target_group", "listener")
    assert group["port"] == 2525
    assert group["protocol"] == "TCP"
    assert group["target_type"] == "ip"  # Fargate awsvpc tasks register by IP
    assert group["proxy_protocol_v2"] is True


def test_listener_service_registers_its_smtp_port_in_that_target_group(tf: Module) -> None:
    service = tf.resource("aws_ecs_service", "listener")
    lb = block(service, "load_balancer")
    assert ref(lb["target_group_arn"]) == "aws_lb_target_group.listener.arn"
    assert lb["container_name"] == "listener"
    assert lb["container_port"] == 2525
    container = tf.locals()["listener_container"]
    assert {"containerPort": 2525, "protocol": "tcp"} in container["portMappings"]


def test_listener_is_told_to_require_proxy_v2_from_the_nlb_subnets_only(tf: Module) -> None:
    env = tf.locals()["listener_environment"]
    assert 'MAILBUS_PROXY_PROTOCOL = "v2"' in env
    assert 'MAILBUS_PROXY_TRUSTED = join(",", local.nlb_cidrs)' in env


def test_only_the_nlb_reaches_the_listener_port(tf: Module) -> None:
    rules = [
        r
        for r in tf.resources("aws_vpc_security_group_ingress_rule").values()
        if ref(r["security_group_id"]) == "aws_security_group.listener.id"
    ]
    assert rules
    for rule in rules:
        assert ref(rule["referenced_security_group_id"]) == "aws_security_group.nlb.id"
        assert "cidr_ipv4" not in rule and "cidr_ipv6" not in rule
    assert {r["from_port"] for r in rules} >= {2525}


def _rules_of(tf: Module, kind: str, group: str) -> list[dict]:
    return [
        r
        for r in tf.resources(kind).values()
        if ref(r["security_group_id"]) == f"aws_security_group.{group}.id"
    ]


def test_redis_admits_the_tasks_security_group_only(tf: Module) -> None:
    redis_sg = tf.resource("aws_security_group", "redis")
    assert "ingress" not in redis_sg and "egress" not in redis_sg  # no inline rules
    # No legacy rule resources that could add a CIDR behind our back.
    assert not tf.resources("aws_security_group_rule")
    ingress = _rules_of(tf, "aws_vpc_security_group_ingress_rule", "redis")
    assert len(ingress) == 1
    rule = ingress[0]
    assert ref(rule["referenced_security_group_id"]) == "aws_security_group.tasks.id"
    assert (rule["from_port"], rule["to_port"], rule["ip_protocol"]) == (6379, 6379, "tcp")
    for key in ("cidr_ipv4", "cidr_ipv6", "prefix_list_id"):
        assert key not in rule


def test_both_redis_flavours_sit_behind_the_redis_security_group(tf: Module) -> None:
    for kind in ("aws_elasticache_replication_group", "aws_memorydb_cluster"):
        redis = tf.resource(kind, "redis")
        assert [ref(g) for g in redis["security_group_ids"]] == ["aws_security_group.redis.id"]


def test_both_services_carry_the_tasks_security_group(tf: Module) -> None:
    for name in ("listener", "worker"):
        network = block(tf.resource("aws_ecs_service", name), "network_configuration")
        assert "aws_security_group.tasks.id" in [ref(g) for g in network["security_groups"]]
    worker = block(tf.resource("aws_ecs_service", "worker"), "network_configuration")
    assert [ref(g) for g in worker["security_groups"]] == ["aws_security_group.tasks.id"]


def test_no_security_group_is_open_to_the_world_except_smtp_on_the_nlb(tf: Module) -> None:
    for name, rule in tf.resources("aws_vpc_security_group_ingress_rule").items():
        if rule.get("cidr_ipv4") == "0.0.0.0/0":
            assert name == "nlb_smtp"
            assert (rule["from_port"], rule["to_port"]) == (25, 25)


def test_mx_records_are_optional(tf: Module) -> None:
    for name in ("mx", "mx_host"):
        record = tf.resource("aws_route53_record", name)
        assert record["count"] == "${local.manage_dns ? 1 : 0}"
    assert tf.locals()["manage_dns"] == "${var.route53_zone_id != null}"
    assert tf.variables()["route53_zone_id"]["default"] is None
    assert "nlb_dns_name" in tf.outputs()
