# Owns: the queue's Redis, either an ElastiCache Valkey replication group (default) or a
# MemoryDB cluster, chosen by var.redis_flavor; exactly one of the two sets has count = 1.
locals {
  memorydb_user = "${var.name}-app"
}

# --- ElastiCache (redis_flavor = "elasticache") ----------------------------------------------

resource "aws_elasticache_subnet_group" "redis" {
  count      = local.use_elasticache ? 1 : 0
  name       = "${var.name}-redis"
  subnet_ids = var.private_subnet_ids
}

resource "aws_elasticache_parameter_group" "redis" {
  count       = local.use_elasticache ? 1 : 0
  name        = "${var.name}-redis"
  family      = var.redis_parameter_group_family
  description = "mailbus queue: never evict keys"

  # A queue must fail writes when full (the listener then answers 451) rather than drop jobs.
  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
}

resource "aws_elasticache_replication_group" "redis" {
  count                      = local.use_elasticache ? 1 : 0
  replication_group_id       = "${var.name}-redis"
  description                = "mailbus RQ queue"
  engine                     = "valkey"
  engine_version             = var.redis_engine_version
  node_type                  = var.redis_node_type
  port                       = local.redis_port
  num_cache_clusters         = 1 + var.redis_replicas
  parameter_group_name       = aws_elasticache_parameter_group.redis[0].name
  subnet_group_name          = aws_elasticache_subnet_group.redis[0].name
  security_group_ids         = [aws_security_group.redis.id]
  automatic_failover_enabled = true
  multi_az_enabled           = true
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.main.arn
  transit_encryption_enabled = true
  auth_token                 = random_password.redis.result
  snapshot_retention_limit   = var.redis_snapshot_retention_days
  auto_minor_version_upgrade = true
  apply_immediately          = false
}

# --- MemoryDB (redis_flavor = "memorydb") ----------------------------------------------------

resource "aws_memorydb_subnet_group" "redis" {
  count      = local.use_memorydb ? 1 : 0
  name       = "${var.name}-redis"
  subnet_ids = var.private_subnet_ids
}

resource "aws_memorydb_parameter_group" "redis" {
  count       = local.use_memorydb ? 1 : 0
  name        = "${var.name}-redis"
  family      = var.memorydb_parameter_group_family
  description = "mailbus queue: never evict keys"

  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
}

resource "aws_memorydb_user" "app" {
  count         = local.use_memorydb ? 1 : 0
  user_name     = local.memorydb_user
  access_string = "on ~* &* +@all"

  authentication_mode {
    type      = "password"
    passwords = [random_password.redis.result]
  }
}

resource "aws_memorydb_acl" "redis" {
  count      = local.use_memorydb ? 1 : 0
  name       = "${var.name}-redis"
  user_names = [aws_memorydb_user.app[0].user_name]
}

resource "aws_memorydb_cluster" "redis" {
  count                      = local.use_memorydb ? 1 : 0
  name                       = "${var.name}-redis"
  engine                     = "valkey"
  engine_version             = var.memorydb_engine_version
  node_type                  = var.memorydb_node_type
  port                       = local.redis_port
  num_shards                 = 1
  num_replicas_per_shard     = var.redis_replicas
  acl_name                   = aws_memorydb_acl.redis[0].name
  parameter_group_name       = aws_memorydb_parameter_group.redis[0].name
  subnet_group_name          = aws_memorydb_subnet_group.redis[0].name
  security_group_ids         = [aws_security_group.redis.id]
  tls_enabled                = true
  kms_key_arn                = aws_kms_key.main.arn
  snapshot_retention_limit   = var.redis_snapshot_retention_days
  auto_minor_version_upgrade = true
}
