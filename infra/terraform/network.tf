# Owns: the security groups and their rules. Internet -> NLB on 25; NLB -> listener tasks on
# the SMTP and metrics ports; tasks -> Redis on 6379 and -> AWS APIs on 443. Nothing else.

# --- NLB --------------------------------------------------------------------------------------

resource "aws_security_group" "nlb" {
  name        = "${var.name}-nlb"
  description = "mailbus NLB: SMTP from the internet, forwards to listener tasks"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "nlb_smtp" {
  security_group_id = aws_security_group.nlb.id
  description       = "SMTP from any sending MTA (this is a public MX)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 25
  to_port           = 25
}

resource "aws_vpc_security_group_egress_rule" "nlb_to_listener_smtp" {
  security_group_id            = aws_security_group.nlb.id
  description                  = "Forward SMTP to listener tasks"
  referenced_security_group_id = aws_security_group.listener.id
  ip_protocol                  = "tcp"
  from_port                    = 2525
  to_port                      = 2525
}

resource "aws_vpc_security_group_egress_rule" "nlb_to_listener_health" {
  security_group_id            = aws_security_group.nlb.id
  description                  = "Health checks to the listener /healthz"
  referenced_security_group_id = aws_security_group.listener.id
  ip_protocol                  = "tcp"
  from_port                    = var.metrics_port
  to_port                      = var.metrics_port
}

# --- listener tasks (in addition to the shared tasks group) ------------------------------------

resource "aws_security_group" "listener" {
  name        = "${var.name}-listener"
  description = "mailbus listener tasks: SMTP and health checks from the NLB only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "listener_smtp" {
  security_group_id            = aws_security_group.listener.id
  description                  = "SMTP (PROXY v2) from the NLB only: only the NLB may send PROXY headers"
  referenced_security_group_id = aws_security_group.nlb.id
  ip_protocol                  = "tcp"
  from_port                    = 2525
  to_port                      = 2525
}

resource "aws_vpc_security_group_ingress_rule" "listener_health" {
  security_group_id            = aws_security_group.listener.id
  description                  = "NLB health checks on the metrics port"
  referenced_security_group_id = aws_security_group.nlb.id
  ip_protocol                  = "tcp"
  from_port                    = var.metrics_port
  to_port                      = var.metrics_port
}

# --- all tasks (listener and worker) ------------------------------------------------------------

resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "mailbus listener and worker tasks: the only group Redis admits"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "AWS APIs over TLS: S3, ECR, CloudWatch Logs, Secrets Manager"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "tasks_redis" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "Redis (TLS) for the queue"
  referenced_security_group_id = aws_security_group.redis.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

# --- Redis ------------------------------------------------------------------------------------

resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "mailbus Redis: reachable from the tasks security group only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_tasks" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from mailbus tasks only"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}
