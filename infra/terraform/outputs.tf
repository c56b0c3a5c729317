# Owns: what the operator needs after apply: where to point DNS, where mail is stored, where
# the queue lives.
output "nlb_dns_name" {
  description = "DNS name of the NLB: point your MX host (an A/ALIAS or CNAME record such as mx.example.com) at it."
  value       = aws_lb.smtp.dns_name
}

output "nlb_zone_id" {
  description = "Route 53 zone id of the NLB, for an ALIAS record in your own DNS setup."
  value       = aws_lb.smtp.zone_id
}

output "mx_record" {
  description = "The MX record created in Route 53, or null when DNS is managed outside this module."
  value       = local.manage_dns ? "${var.mx_domain} MX 10 ${var.mx_hostname}" : null
}

output "bucket_name" {
  description = "S3 bucket holding raw messages and attachments."
  value       = aws_s3_bucket.mail.bucket
}

output "mailbus_store" {
  description = "The MAILBUS_STORE value the tasks use."
  value       = local.common_environment.MAILBUS_STORE
}

output "redis_endpoint" {
  description = "Redis endpoint host:port (TLS and AUTH required; the full URL is in redis_secret_arn)."
  value       = "${local.redis_host}:${local.redis_port}"
}

output "redis_secret_arn" {
  description = "Secrets Manager secret with auth_token and url (MAILBUS_REDIS_URL)."
  value       = aws_secretsmanager_secret.redis.arn
}

output "cluster_name" {
  description = "ECS cluster name (for aws ecs run-task, e.g. mailbus reconcile)."
  value       = aws_ecs_cluster.main.name
}

output "worker_task_definition" {
  description = "Worker task definition family: run one-off commands such as reconcile with it."
  value       = aws_ecs_task_definition.worker.family
}

output "log_groups" {
  description = "CloudWatch log groups of the listener and the worker."
  value = {
    listener = aws_cloudwatch_log_group.listener.name
    worker   = aws_cloudwatch_log_group.worker.name
  }
}

output "tasks_security_group_id" {
  description = "Security group of the tasks (the only one Redis admits), for one-off run-task calls."
  value       = aws_security_group.tasks.id
}

output "private_subnet_ids" {
  description = "Subnets the tasks run in, for one-off run-task calls."
  value       = var.private_subnet_ids
}
