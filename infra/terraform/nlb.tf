# Owns: the internet-facing Network Load Balancer, TCP 25 -> the listener target group on
# 2525 with PROXY protocol v2, health-checked on the listener's /healthz.
resource "aws_lb" "smtp" {
  #checkov:skip=CKV_AWS_91:NLB access logs cover TLS listeners only; this one is plain TCP (STARTTLS happens in mailbus), so logs would stay empty. mailbus logs every session with the real client IP from PROXY v2.
  name                             = "${var.name}-smtp"
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = var.public_subnet_ids
  security_groups                  = [aws_security_group.nlb.id]
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.nlb_deletion_protection
}

resource "aws_lb_target_group" "listener" {
  name        = "${var.name}-listener"
  port        = 2525
  protocol    = "TCP"
  target_type = "ip"
  vpc_id      = var.vpc_id

  # The NLB prepends a PROXY v2 header so per-IP limits and logs see the real client; the
  # listener requires it (MAILBUS_PROXY_PROTOCOL=v2) and only the NLB can reach the port.
  proxy_protocol_v2 = true

  # Shorter than the task's stopTimeout: new connections stop before SIGTERM drains.
  deregistration_delay = 30

  # Liveness, not /readyz: ECS replaces targets that fail this check, and replacing every
  # listener during a Redis outage would not help (they answer 451 and senders retry). Health
  # checks on the metrics port also keep header-less probes off the PROXY-only SMTP port.
  health_check {
    protocol            = "HTTP"
    port                = tostring(var.metrics_port)
    path                = "/healthz"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

resource "aws_lb_listener" "smtp" {
  #checkov:skip=CKV_AWS_2:SMTP on port 25 must be plain TCP: senders negotiate STARTTLS with mailbus itself, and TLS termination at the NLB would break STARTTLS and PROXY v2.
  #checkov:skip=CKV_AWS_103:Same reason: no TLS listener on an MX; TLS policy is mailbus's STARTTLS configuration.
  load_balancer_arn = aws_lb.smtp.arn
  port              = 25
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.listener.arn
  }
}
