# Owns: lookups of the account and partition, and the locals that every other file shares
# (names, S3 key prefixes, which Redis flavour is on).
data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# The NLB's nodes live in the public subnets: only they may send PROXY headers.
data "aws_subnet" "public" {
  for_each = toset(var.public_subnet_ids)
  id       = each.value
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Layout inside the bucket (mailbus/stores/base.py). MAILBUS_STORE points at the store
  # prefix; below it mailbus keeps raw/<id> (bytes as received), attachments/<sha256>,
  # done/<id> (a worker's "finished" marker, read by mailbus reconcile) and probe/ (the
  # /readyz write probe). IAM is scoped per sub-prefix.
  store_prefix       = trim(var.store_prefix, "/")
  raw_prefix         = "${local.store_prefix}/raw/"
  attachments_prefix = "${local.store_prefix}/attachments/"
  done_prefix        = "${local.store_prefix}/done/"
  probe_prefix       = "${local.store_prefix}/probe/"

  use_elasticache = var.redis_flavor == "elasticache"
  use_memorydb    = var.redis_flavor == "memorydb"
  starttls        = var.tls_secret_arn != null
  nlb_cidrs       = sort([for subnet in data.aws_subnet.public : subnet.cidr_block])
}
