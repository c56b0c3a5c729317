"""Listeners scale on CPU; workers on the QueueDepth metric that listeners and workers publish as
EMF log lines: from zero to one within a minute of the first waiting message, out by target
tracking, and back to the minimum after worker_idle_minutes of an empty queue."""

from __future__ import annotations

import re

from tests.infra.conftest import Module, block, ref


def _policy_for(tf: Module, target: str) -> dict:
    policies = [
        p
        for p in tf.resources("aws_appautoscaling_policy").values()
        if ref(p["resource_id"]) == f"aws_appautoscaling_target.{target}.resource_id"
        and p["policy_type"] == "TargetTrackingScaling"
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
    assert config["disable_scale_in"] is True  # it cannot wait worker_idle_minutes; idle does


def _step_policy(tf: Module, alarm: dict) -> dict:
    (action,) = alarm["alarm_actions"]
    kind, name, attribute = ref(action).split(".")
    assert (kind, attribute) == ("aws_appautoscaling_policy", "arn")
    policy = tf.resource(kind, name)
    assert policy["policy_type"] == "StepScaling"
    assert ref(policy["resource_id"]) == "aws_appautoscaling_target.worker.resource_id"
    return block(policy, "step_scaling_policy_configuration")


def _query(alarm: dict, query_id: str) -> dict:
    (query,) = [q for q in alarm["metric_query"] if q["id"] == query_id]
    return query


def test_workers_may_scale_to_zero(tf: Module) -> None:
    variables = tf.variables()
    assert variables["worker_min_count"]["default"] == 0
    assert variables["worker_idle_minutes"]["default"] == 10


def test_the_first_waiting_message_wakes_one_worker_within_a_minute(tf: Module) -> None:
    alarm = tf.resource("aws_cloudwatch_metric_alarm", "worker_wake")
    assert (alarm["evaluation_periods"], alarm["datapoints_to_alarm"]) == (1, 1)
    (formula,) = [q for q in alarm["metric_query"] if q.get("return_data")]
    assert formula["expression"] == "IF(depth > 0 AND FILL(workers, 0) == 0, 1, 0)"
    assert (alarm["comparison_operator"], alarm["threshold"]) == (
        "GreaterThanOrEqualToThreshold", 1,
    )  # fmt: skip
    depth = block(_query(alarm, "depth"), "metric")
    assert (depth["namespace"], depth["metric_name"]) == ("${var.metrics_namespace}", "QueueDepth")
    assert depth["dimensions"] == {"Queue": "${var.queue_name}"}
    assert (depth["stat"], depth["period"]) == ("Maximum", 60)
    workers = block(_query(alarm, "workers"), "metric")  # running tasks: ECS's own metric
    assert (workers["namespace"], workers["metric_name"]) == ("AWS/ECS", "CPUUtilization")
    assert workers["dimensions"] == {
        "ClusterName": "${aws_ecs_cluster.main.name}",
        "ServiceName": "${aws_ecs_service.worker.name}",
    }
    assert (workers["stat"], workers["period"]) == ("SampleCount", 60)

    config = _step_policy(tf, alarm)
    assert config["adjustment_type"] == "ExactCapacity"  # repeated alarms never add more
    (step,) = config["step_adjustment"]
    assert step == {"metric_interval_lower_bound": 0, "scaling_adjustment": 1}


def test_the_listeners_publish_the_depth_several_times_a_minute(tf: Module) -> None:
    found = re.search(r'MAILBUS_EMF_INTERVAL = "(\d+)"', tf.locals()["listener_environment"])
    assert found and 0 < int(found[1]) <= 20  # the first waiting message is in the next datapoint


def test_workers_scale_in_after_worker_idle_minutes_of_an_empty_queue(tf: Module) -> None:
    alarm = tf.resource("aws_cloudwatch_metric_alarm", "worker_idle")
    assert (alarm["namespace"], alarm["metric_name"]) == ("${var.metrics_namespace}", "QueueDepth")
    assert alarm["dimensions"] == {"Queue": "${var.queue_name}"}
    assert (alarm["statistic"], alarm["period"]) == ("Maximum", 60)
    assert (
        alarm["evaluation_periods"] == alarm["datapoints_to_alarm"] == "${var.worker_idle_minutes}"
    )
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("LessThanOrEqualToThreshold", 0)
    config = _step_policy(tf, alarm)
    assert config["adjustment_type"] == "ExactCapacity"
    (step,) = config["step_adjustment"]
    assert step == {
        "metric_interval_upper_bound": 0,
        "scaling_adjustment": "${var.worker_min_count}",
    }


def test_listener_emf_lines_land_in_the_listener_log_group(tf: Module) -> None:
    options = tf.locals()["listener_container"]["logConfiguration"]["options"]
    assert options["awslogs-group"] == "${aws_cloudwatch_log_group.listener.name}"


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
