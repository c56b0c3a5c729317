# Owns: the autoscaling of both services. Listeners track average CPU; workers track the
# QueueDepth metric that they publish themselves as CloudWatch embedded-metric-format log
# lines (namespace var.metrics_namespace, metric QueueDepth, dimension Queue = queue name).
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
    scale_in_cooldown  = 300

    # Every worker task reports the same queue, so Average is the queue depth itself.
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
