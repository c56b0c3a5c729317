# Owns: the optional HTTP ingress for provider webhooks (`mailbus ingress`), off unless
# var.ingress_enabled: an internet-facing ALB terminating HTTPS on 443 -> ingress tasks on 8026,
# the ingress service and task definition, its roles, security groups and log group. Every
# endpoint authenticates its provider (SNS signatures, Mailgun HMAC, basic auth) before storing,
# and the task role may only put raw messages (and read the SES action's bucket when given).
locals {
  ingress       = var.ingress_enabled ? 1 : 0
  ingress_port  = 8026
  ingress_input = var.ingress_secret_arn != null ? [var.ingress_secret_arn] : []

  ingress_environment = merge(local.common_environment, {
    MAILBUS_HOST         = "0.0.0.0"
    MAILBUS_INGRESS_PORT = tostring(local.ingress_port)
  }, length(var.ingress_ses_topics) > 0 ? { MAILBUS_SES_TOPICS = join(",", var.ingress_ses_topics) } : {}, var.extra_environment)

  # Provider credentials come from one JSON secret: each key that exists becomes its variable.
  ingress_secrets = concat(local.redis_secret, [
    for key, name in {
      mailgun_signing_key = "MAILBUS_MAILGUN_SIGNING_KEY"
      postmark_auth       = "MAILBUS_POSTMARK_AUTH"
      sendgrid_auth       = "MAILBUS_SENDGRID_AUTH"
    } : { name = name, valueFrom = "${var.ingress_secret_arn}:${key}::" } if contains(var.ingress_secret_keys, key)
  ])

  # The Procfile's `ingress: mailbus ingress`.
  ingress_command = concat(["ingress"], var.ingress_processes > 1 ? ["--processes", tostring(var.ingress_processes)] : [])
}

# --- load balancer ----------------------------------------------------------------------------

resource "aws_lb" "ingress" {
  #checkov:skip=CKV_AWS_91:Every request is logged by mailbus itself (one JSON line with provider, status and message id); ALB access logs would need a log bucket this module does not own.
  #checkov:skip=CKV2_AWS_28:Each endpoint authenticates its provider before reading more than a bounded body; attach your account's WAF with aws_wafv2_web_acl_association if you run one.
  #checkov:skip=CKV2_AWS_20:There is no HTTP listener to redirect: the ALB listens on 443 only.
  count                      = local.ingress
  name                       = "${var.name}-ingress"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb[0].id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.nlb_deletion_protection

  lifecycle {
    precondition {
      condition     = var.ingress_certificate_arn != null
      error_message = "ingress_enabled needs ingress_certificate_arn: the ingress is HTTPS only (providers send credentials in every request)."
    }
  }
}

resource "aws_lb_target_group" "ingress" {
  count                = local.ingress
  name                 = "${var.name}-ingress"
  port                 = local.ingress_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    protocol            = "HTTP"
    port                = tostring(var.metrics_port)
    path                = "/healthz"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

resource "aws_lb_listener" "ingress_https" {
  count             = local.ingress
  load_balancer_arn = aws_lb.ingress[0].arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.ingress_certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.ingress[0].arn
  }
}

# --- security groups --------------------------------------------------------------------------

resource "aws_security_group" "alb" {
  count       = local.ingress
  name        = "${var.name}-ingress-alb"
  description = "mailbus ingress ALB: HTTPS from the providers, forwards to ingress tasks"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = var.ingress_enabled ? toset(var.ingress_allowed_cidrs) : toset([])
  security_group_id = aws_security_group.alb[0].id
  description       = "HTTPS webhooks from the providers"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "alb_to_ingress" {
  count                        = local.ingress
  security_group_id            = aws_security_group.alb[0].id
  description                  = "Forward webhooks to ingress tasks"
  referenced_security_group_id = aws_security_group.ingress[0].id
  ip_protocol                  = "tcp"
  from_port                    = local.ingress_port
  to_port                      = local.ingress_port
}

resource "aws_vpc_security_group_egress_rule" "alb_to_ingress_health" {
  count                        = local.ingress
  security_group_id            = aws_security_group.alb[0].id
  description                  = "Health checks to the ingress /healthz"
  referenced_security_group_id = aws_security_group.ingress[0].id
  ip_protocol                  = "tcp"
  from_port                    = var.metrics_port
  to_port                      = var.metrics_port
}

resource "aws_security_group" "ingress" {
  count       = local.ingress
  name        = "${var.name}-ingress"
  description = "mailbus ingress tasks: webhooks and health checks from the ALB only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "ingress_http" {
  count                        = local.ingress
  security_group_id            = aws_security_group.ingress[0].id
  description                  = "Webhooks from the ALB only"
  referenced_security_group_id = aws_security_group.alb[0].id
  ip_protocol                  = "tcp"
  from_port                    = local.ingress_port
  to_port                      = local.ingress_port
}

resource "aws_vpc_security_group_ingress_rule" "ingress_health" {
  count                        = local.ingress
  security_group_id            = aws_security_group.ingress[0].id
  description                  = "ALB health checks on the metrics port"
  referenced_security_group_id = aws_security_group.alb[0].id
  ip_protocol                  = "tcp"
  from_port                    = var.metrics_port
  to_port                      = var.metrics_port
}

# --- service and task -------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "ingress" {
  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable (default 30): request logs hold e-mail addresses, so a one-year default would keep personal data longer than operating needs.
  count             = local.ingress
  name              = "/mailbus/${var.name}/ingress"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_ecs_task_definition" "ingress" {
  count                    = local.ingress
  family                   = "${var.name}-ingress"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.ingress_cpu
  memory                   = var.ingress_memory
  execution_role_arn       = aws_iam_role.ingress_execution[0].arn
  task_role_arn            = aws_iam_role.ingress_task[0].arn
  container_definitions = jsonencode([{
    name                   = "ingress"
    image                  = var.image
    essential              = true
    command                = local.ingress_command
    readonlyRootFilesystem = true
    stopTimeout            = 30
    linuxParameters        = { initProcessEnabled = true }
    portMappings = [
      { containerPort = local.ingress_port, protocol = "tcp" },
      { containerPort = var.metrics_port, protocol = "tcp" },
    ]
    environment = [for k, v in local.ingress_environment : { name = k, value = v }]
    secrets     = local.ingress_secrets
    healthCheck = local.health_check
    mountPoints = [local.tmp_mount]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.ingress[0].name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = "ingress"
        mode                  = "non-blocking"
        max-buffer-size       = "25m"
      }
    }
  }])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }
}

resource "aws_ecs_service" "ingress" {
  count                             = local.ingress
  name                              = "ingress"
  cluster                           = aws_ecs_cluster.main.id
  task_definition                   = aws_ecs_task_definition.ingress[0].arn
  desired_count                     = var.ingress_desired_count
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  health_check_grace_period_seconds = 60
  propagate_tags                    = "SERVICE"
  enable_execute_command            = false

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id, aws_security_group.ingress[0].id]
    assign_public_ip = var.assign_public_ip
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.ingress[0].arn
    container_name   = "ingress"
    container_port   = local.ingress_port
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  depends_on = [aws_lb_listener.ingress_https]
}

# --- roles ------------------------------------------------------------------------------------

resource "aws_iam_role" "ingress_execution" {
  count              = local.ingress
  name               = "${var.name}-ingress-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "ingress_execution" {
  count      = local.ingress
  role       = aws_iam_role.ingress_execution[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "ingress_execution_secrets" {
  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = concat([aws_secretsmanager_secret.redis.arn], local.ingress_input)
  }

  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.aws_region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "ingress_execution_secrets" {
  count  = local.ingress
  name   = "secrets"
  role   = aws_iam_role.ingress_execution[0].id
  policy = data.aws_iam_policy_document.ingress_execution_secrets.json
}

resource "aws_iam_role" "ingress_task" {
  count              = local.ingress
  name               = "${var.name}-ingress-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# Like the listener: add raw messages, read nothing back; plus the objects an SES S3 action
# wrote, when var.ingress_ses_bucket_arn names that bucket.
data "aws_iam_policy_document" "ingress_task" {
  source_policy_documents = [data.aws_iam_policy_document.listener_task.json]

  dynamic "statement" {
    for_each = var.ingress_ses_bucket_arn != null ? [var.ingress_ses_bucket_arn] : []
    content {
      sid       = "ReadSesActionObjects"
      actions   = ["s3:GetObject"]
      resources = ["${statement.value}/*"]
    }
  }
}

resource "aws_iam_role_policy" "ingress_task" {
  count  = local.ingress
  name   = "mail-store"
  role   = aws_iam_role.ingress_task[0].id
  policy = data.aws_iam_policy_document.ingress_task.json
}
