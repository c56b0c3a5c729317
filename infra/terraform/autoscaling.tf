# Owns: the autoscaling of both services. Listeners track average CPU. Workers scale on the
# QueueDepth metric (namespace var.metrics_namespace, dimension Queue = queue name) that the
# listeners and the workers print as CloudWatch embedded-metric-format log lines; the listeners'
# lines keep coming while no worker runs, so the workers can scale to zero and back:
# - worker_wake: the first worker within about a minute of the first waiting message;
# - worker_queue_depth: target tracking adds workers while the backlog is above the target;
# - worker_idle: back to worker_min_count after worker_idle_minutes of an empty queue.
resource "aws_appautoscaling_target" "listener" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.listener.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.listener_min_count
  max_capacity       = var.listener_max_count
}

resource "aws_appautoscaling_policy" "listener_cpu" {
  name               = "${var.name}-listener-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.listener.service_namespace
  resource_id        = aws_appautoscaling_target.listener.resource_id
  scalable_dimension = aws_appautoscaling_target.listener.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.listener_cpu_target
    scale_out_cooldown = 60
    # Scaling in ends SMTP sessions after the drain; do it slowly.
    scale_in_cooldown = 300

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_target" "worker" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.worker.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.worker_min_count
  max_capacity       = var.worker_max_count
}

resource "aws_appautoscaling_policy" "worker_queue_depth" {
  name               = "${var.name}-worker-queue-depth"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  resource_id        = aws_appautoscaling_target.worker.resource_id
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.worker_target_queue_depth
    scale_out_cooldown = 60
    # Target tracking multiplies the running count, so it can neither leave zero nor wait for
    # worker_idle_minutes; worker_wake and worker_idle below do both.
    disable_scale_in = true

    # Every listener and worker task reports the same queue, so Average is the queue depth.
    customized_metric_specification {
      namespace   = var.metrics_namespace
      metric_name = "QueueDepth"
      statistic   = "Average"
      unit        = "Count"

      dimensions {
        name  = "Queue"
        value = var.queue_name
      }
    }
  }
}

# Fires while mail waits and no worker task runs. ECS publishes CPUUtilization for a service only
# while it has running tasks: its SampleCount is the running task count, absent (filled with 0)
# at zero. Period 60 s and one evaluation: the wake-up follows the first waiting message within
# about a minute (the listeners print the depth every MAILBUS_EMF_INTERVAL seconds, tasks.tf).
resource "aws_cloudwatch_metric_alarm" "worker_wake" {
  alarm_name          = "${var.name}-worker-wake"
  alarm_description   = "Mail waits in ${var.queue_name} and no worker runs: start one."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.worker_wake.arn]

  metric_query {
    id          = "waiting_without_workers"
    expression  = "IF(depth > 0 AND FILL(workers, 0) == 0, 1, 0)"
    label       = "Mail waiting with no worker running"
    return_data = true
  }

  metric_query {
    id = "depth"
    metric {
      namespace   = var.metrics_namespace
      metric_name = "QueueDepth"
      dimensions  = { Queue = var.queue_name }
      stat        = "Maximum"
      period      = 60
    }
  }

  metric_query {
    id = "workers"
    metric {
      namespace   = "AWS/ECS"
      metric_name = "CPUUtilization"
      dimensions  = { ClusterName = aws_ecs_cluster.main.name, ServiceName = aws_ecs_service.worker.name }
      stat        = "SampleCount"
      period      = 60
    }
  }
}

resource "aws_appautoscaling_policy" "worker_wake" {
  name               = "${var.name}-worker-wake"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  resource_id        = aws_appautoscaling_target.worker.resource_id
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension

  step_scaling_policy_configuration {
    # Exactly one: the alarm repeats each minute until the task reports, which must not add more.
    adjustment_type         = "ExactCapacity"
    cooldown                = 60
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_lower_bound = 0
      scaling_adjustment          = 1
    }
  }
}

# Fires once the queue has been empty (nothing waiting, no retry scheduled) for
# worker_idle_minutes consecutive minutes; a minute without any line keeps the alarm as it was.
resource "aws_cloudwatch_metric_alarm" "worker_idle" {
  alarm_name          = "${var.name}-worker-idle"
  alarm_description   = "${var.queue_name} has been empty for ${var.worker_idle_minutes} minutes: scale the workers in."
  namespace           = var.metrics_namespace
  metric_name         = "QueueDepth"
  dimensions          = { Queue = var.queue_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = var.worker_idle_minutes
  datapoints_to_alarm = var.worker_idle_minutes
  comparison_operator = "LessThanOrEqualToThreshold"
  threshold           = 0
  treat_missing_data  = "missing"
  alarm_actions       = [aws_appautoscaling_policy.worker_idle.arn]
}

resource "aws_appautoscaling_policy" "worker_idle" {
  name               = "${var.name}-worker-idle"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  resource_id        = aws_appautoscaling_target.worker.resource_id
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension

  step_scaling_policy_configuration {
    adjustment_type         = "ExactCapacity"
    cooldown                = 60
    metric_aggregation_type = "Maximum"

    # The alarm breaches at or below 0, so the whole range up to the threshold is one step.
    step_adjustment {
      metric_interval_upper_bound = 0
      scaling_adjustment          = var.worker_min_count
    }
  }
}
