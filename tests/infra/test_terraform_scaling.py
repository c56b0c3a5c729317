"""Listeners scale on CPU; workers on the QueueDepth metric they publish as EMF log lines."""

from __future__ import annotations

from tests.infra.conftest import Module, block, ref


def _policy_for(tf: Module, target: str) -> dict:
    policies = [
        p
        for p in tf.resources("aws_appautoscaling_policy").values()
        if ref(p["resource_id"]) == f"aws_appautoscaling_target.{target}.resource_id"
    ]
    assert len(policies) == 1
    assert policies[0]["policy_type"] == "TargetTrackingScaling"
    return block(policies[0], "target_tracking_scaling_policy_configuration")


def test_scaling_targets_are_the_two_services(tf: Module) -> None:
    for role in ("listener", "worker"):
        target = tf.resource("aws_appautoscaling_target", role)
        assert target["scalable_dimension"] == "ecs:service:DesiredCount"
        assert f"aws_ecs_service.{role}.name" in target["resource_id"]
        assert target["min_capacity"] == f"${{var.{role}_min_count}}"
        assert target["max_capacity"] == f"${{var.{role}_max_count}}"


def test_listeners_track_average_cpu(tf: Module) -> None:
    config = _policy_for(tf, "listener")
    predefined = block(config, "predefined_metric_specification")
    assert predefined["predefined_metric_type"] == "ECSServiceAverageCPUUtilization"


def test_workers_track_the_queue_depth_metric(tf: Module) -> None:
    config = _policy_for(tf, "worker")
    assert "predefined_metric_specification" not in config
    metric = block(config, "customized_metric_specification")
    assert metric["metric_name"] == "QueueDepth"
    assert metric["namespace"] == "${var.metrics_namespace}"
    assert block(metric, "dimensions") == {"name": "Queue", "value": "${var.queue_name}"}
    assert tf.variables()["metrics_namespace"]["default"] == "mailbus"
    assert config["target_value"] == "${var.worker_target_queue_depth}"


def test_worker_emf_lines_land_in_the_worker_log_group(tf: Module) -> None:
    options = tf.locals()["worker_container"]["logConfiguration"]["options"]
    assert options["awslogs-group"] == "${aws_cloudwatch_log_group.worker.name}"


def test_autoscaling_owns_the_desired_count(tf: Module) -> None:
    for role in ("listener", "worker"):
        lifecycle = block(tf.resource("aws_ecs_service", role), "lifecycle")
        assert lifecycle["ignore_changes"] == ["${desired_count}"] or lifecycle[
            "ignore_changes"
        ] == ["desired_count"]


def test_log_groups_have_retention_from_a_variable(tf: Module) -> None:
    for group in tf.resources("aws_cloudwatch_log_group").values():
        assert group["retention_in_days"] == "${var.log_retention_days}"
