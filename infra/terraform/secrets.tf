# Owns: the Redis credential and the ready-made MAILBUS_REDIS_URL, kept in Secrets Manager so
# the tasks receive them as ECS secrets and never as plain environment in the task definition.
resource "random_password" "redis" {
  # Alphanumeric: valid as an ElastiCache AUTH token and a MemoryDB password, and safe inside
  # a URL without escaping.
  length  = 64
  special = false
}

locals {
  # one(...[*]) rather than [0]: the flavour that is off has no instance to index.
  elasticache_host = one(aws_elasticache_replication_group.redis[*].primary_endpoint_address)
  memorydb_host    = one(aws_memorydb_cluster.redis[*].cluster_endpoint[0].address)
  redis_host       = local.use_elasticache ? local.elasticache_host : local.memorydb_host
  redis_port       = 6379
  # ElastiCache takes the token as the default user's password; MemoryDB has a named ACL user.
  redis_userinfo = local.use_elasticache ? ":${random_password.redis.result}" : "${local.memorydb_user}:${random_password.redis.result}"
  redis_url      = "rediss://${local.redis_userinfo}@${local.redis_host}:${local.redis_port}/0"
}

resource "aws_secretsmanager_secret" "redis" {
  #checkov:skip=CKV2_AWS_57:Rotating the AUTH token needs ElastiCache's ROTATE/SET strategy and a rolling task restart in step; it is a documented manual procedure (infra/README.md), not a Lambda.
  name                    = "${var.name}/redis"
  description             = "Redis AUTH token and MAILBUS_REDIS_URL for ${var.name}"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "redis" {
  secret_id = aws_secretsmanager_secret.redis.id
  secret_string = jsonencode({
    auth_token = random_password.redis.result
    url        = local.redis_url
  })
}
