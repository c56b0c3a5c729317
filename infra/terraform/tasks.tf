# Owns: the two ECS task definitions (listener, worker) from the one image: their commands,
# environment, secrets, health checks, volumes and log routing.
locals {
  tls_dir = "/run/mailbus-tls"

  # Both roles: where mail lives, which queue, which domains, where metrics are served.
  common_environment = merge({
    AWS_REGION           = var.aws_region
    MAILBUS_STORE        = "s3://${aws_s3_bucket.mail.bucket}/${local.store_prefix}"
    MAILBUS_QUEUE        = var.queue_name
    MAILBUS_DOMAINS      = join(",", var.mail_domains)
    MAILBUS_METRICS_PORT = tostring(var.metrics_port)
    # The bucket's expire-mail rule (s3.tf) and mailbus's own retention agree.
    MAILBUS_RETENTION = tostring(var.retention_days * 86400)
  }, var.mx_hostname != null ? { MAILBUS_HOSTNAME = var.mx_hostname } : {})

  # var.extra_environment comes last so an operator can override any default here.
  listener_environment = merge(local.common_environment, {
    MAILBUS_HOST           = "0.0.0.0"
    MAILBUS_PORT           = "2525"
    MAILBUS_PROXY_PROTOCOL = "v2"
    MAILBUS_PROXY_TRUSTED  = join(",", local.nlb_cidrs)
    # The QueueDepth line that wakes the workers (autoscaling.tf): a few per minute, so the first
    # waiting message is in the next one-minute datapoint.
    MAILBUS_EMF_INTERVAL = "15"
    }, local.starttls ? {
    MAILBUS_TLS_CERT = "${local.tls_dir}/cert.pem"
    MAILBUS_TLS_KEY  = "${local.tls_dir}/key.pem"
  } : {}, var.extra_environment)

  worker_environment = merge(local.common_environment, {
    MAILBUS_HANDLERS = var.handlers
    # Per-process heap cap: share 80% of the task's memory between the worker processes.
    MAILBUS_WORKER_MEMORY_LIMIT = tostring(floor(var.worker_memory * 0.8 / var.worker_processes))
  }, var.extra_environment)

  # The same subcommands as the Procfile lines: `mailbus listen` and `mailbus worker`.
  listener_command = concat(["listen"], var.listener_processes > 1 ? ["--processes", tostring(var.listener_processes)] : [])
  worker_command   = concat(["worker"], var.worker_processes > 1 ? ["--processes", tostring(var.worker_processes)] : [])

  # MAILBUS_REDIS_URL is the "url" key of the JSON secret in secrets.tf (TLS, with AUTH).
  redis_secret = [{ name = "MAILBUS_REDIS_URL", valueFrom = "${aws_secretsmanager_secret.redis.arn}:url::" }]

  health_check = {
    command     = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${var.metrics_port}/healthz', timeout=4)"]
    interval    = 30
    timeout     = 5
    retries     = 3
    startPeriod = 20
  }

  tmp_mount = { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }

  tls_init_container = {
    name                   = "tls-init"
    image                  = var.image
    essential              = false
    entryPoint             = ["python", "/usr/local/lib/mailbus/write_tls_files.py"]
    command                = []
    readonlyRootFilesystem = true
    environment            = [{ name = "MAILBUS_TLS_DIR", value = local.tls_dir }]
    secrets = [
      { name = "MAILBUS_TLS_CERT_PEM", valueFrom = "${coalesce(var.tls_secret_arn, "none")}:cert::" },
      { name = "MAILBUS_TLS_KEY_PEM", valueFrom = "${coalesce(var.tls_secret_arn, "none")}:key::" },
    ]
    mountPoints = [{ sourceVolume = "tls", containerPath = local.tls_dir, readOnly = false }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.listener.name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = "tls-init"
      }
    }
  }

  listener_container = {
    name                   = "listener"
    image                  = var.image
    essential              = true
    command                = local.listener_command
    readonlyRootFilesystem = true
    stopTimeout            = 30
    linuxParameters        = { initProcessEnabled = true }
    portMappings = [
      { containerPort = 2525, protocol = "tcp" },
      { containerPort = var.metrics_port, protocol = "tcp" },
    ]
    environment = [for k, v in local.listener_environment : { name = k, value = v }]
    secrets     = local.redis_secret
    healthCheck = local.health_check
    mountPoints = concat([local.tmp_mount], local.starttls ? [{ sourceVolume = "tls", containerPath = local.tls_dir, readOnly = true }] : [])
    dependsOn   = local.starttls ? [{ containerName = "tls-init", condition = "SUCCESS" }] : []
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.listener.name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = "listener"
        mode                  = "non-blocking"
        max-buffer-size       = "25m"
      }
    }
  }

  worker_container = {
    name                   = "worker"
    image                  = var.image
    essential              = true
    command                = local.worker_command
    readonlyRootFilesystem = true
    stopTimeout            = 30
    linuxParameters        = { initProcessEnabled = true }
    portMappings           = [{ containerPort = var.metrics_port, protocol = "tcp" }]
    environment            = [for k, v in local.worker_environment : { name = k, value = v }]
    secrets                = local.redis_secret
    healthCheck            = local.health_check
    mountPoints            = [local.tmp_mount]
    # The QueueDepth embedded-metric-format lines travel in this stream, so CloudWatch
    # extracts the metric that scales the workers (autoscaling.tf).
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.worker.name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = "worker"
        mode                  = "non-blocking"
        max-buffer-size       = "25m"
      }
    }
  }
}

resource "aws_ecs_task_definition" "listener" {
  family                   = "${var.name}-listener"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.listener_cpu
  memory                   = var.listener_memory
  execution_role_arn       = aws_iam_role.listener_execution.arn
  task_role_arn            = aws_iam_role.listener_task.arn
  container_definitions    = jsonencode(concat(local.starttls ? [local.tls_init_container] : [], [local.listener_container]))

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }

  dynamic "volume" {
    for_each = local.starttls ? ["tls"] : []
    content {
      name = volume.value
    }
  }
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "${var.name}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.worker_cpu
  memory                   = var.worker_memory
  execution_role_arn       = aws_iam_role.worker_execution.arn
  task_role_arn            = aws_iam_role.worker_task.arn
  container_definitions    = jsonencode([local.worker_container])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }
}
