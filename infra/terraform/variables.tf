# Owns: every input of the module, typed, described and validated where a wrong value would
# only show up at apply time.

# --- naming and placement -------------------------------------------------------------------

variable "name" {
  type        = string
  description = "Name of this deployment; prefixes every resource name (lowercase letters, digits, hyphens)."
  default     = "mailbus"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "aws_region" {
  type        = string
  description = "AWS region to deploy into, e.g. eu-west-1."
}

variable "tags" {
  type        = map(string)
  description = "Extra tags applied to every resource."
  default     = {}
}

variable "vpc_id" {
  type        = string
  description = "VPC that holds the load balancer, the tasks and Redis."
}

variable "public_subnet_ids" {
  type        = list(string)
  description = "Public subnets (one per AZ, at least two) for the internet-facing Network Load Balancer."

  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "Give at least two public subnets in different AZs."
  }
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets (one per AZ, at least two) for the ECS tasks and Redis. They need egress to ECR, CloudWatch Logs, Secrets Manager and S3 (NAT gateway or VPC endpoints)."

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "Give at least two private subnets in different AZs (Multi-AZ Redis needs them)."
  }
}

variable "assign_public_ip" {
  type        = bool
  description = "Give tasks a public IP. Only for subnets without NAT or endpoints; the security groups still admit nothing from the internet."
  default     = false
}

# --- the application ------------------------------------------------------------------------

variable "image" {
  type        = string
  description = "Container image built from infra/Dockerfile (usually your own image FROM it, with your handlers installed), e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mailbus:1.0.0."
}

variable "cpu_architecture" {
  type        = string
  description = "CPU architecture of the image: X86_64 or ARM64 (Graviton is cheaper per vCPU)."
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "mail_domains" {
  type        = list(string)
  description = "Recipient domains mailbus accepts (MAILBUS_DOMAINS); '*.example.com' is allowed. Mail for other domains is refused at RCPT."

  validation {
    condition     = length(var.mail_domains) > 0
    error_message = "mail_domains must name at least one domain: the listener refuses to start without it."
  }
}

variable "handlers" {
  type        = string
  description = "Dotted path of your router, 'package.module:router' (MAILBUS_HANDLERS for the workers). The package must be installed in var.image."
}

variable "queue_name" {
  type        = string
  description = "RQ queue name (MAILBUS_QUEUE); also the Queue dimension of the QueueDepth metric."
  default     = "mailbus"
}

variable "store_prefix" {
  type        = string
  description = "Key prefix inside the bucket; MAILBUS_STORE becomes s3://<bucket>/<store_prefix>."
  default     = "mail"
}

variable "metrics_port" {
  type        = number
  description = "MAILBUS_METRICS_PORT: /metrics, /healthz and /readyz. The NLB health-checks /readyz here."
  default     = 9100
}

variable "metrics_namespace" {
  type        = string
  description = "CloudWatch namespace of the embedded-metric-format lines the listeners and workers print (QueueDepth and OldestWaitingAge live here)."
  default     = "mailbus"
}

variable "extra_environment" {
  type        = map(string)
  description = "Further MAILBUS_* variables for both roles, e.g. { MAILBUS_MAX_MESSAGE_SIZE = \"10485760\" }; they override the defaults this module sets."
  default     = {}
}

variable "tls_secret_arn" {
  type        = string
  description = "ARN of a Secrets Manager secret holding JSON {\"cert\": \"<PEM chain>\", \"key\": \"<PEM key>\"} for STARTTLS. null: no STARTTLS."
  default     = null
}

variable "tls_secret_kms_key_arn" {
  type        = string
  description = "KMS key that encrypts tls_secret_arn, when it is a customer-managed key (null for the AWS-managed aws/secretsmanager key)."
  default     = null
}

# --- listener service -----------------------------------------------------------------------

variable "listener_cpu" {
  type        = number
  description = "Fargate CPU units per listener task (256, 512, 1024, 2048, 4096)."
  default     = 512
}

variable "listener_memory" {
  type        = number
  description = "Memory (MiB) per listener task; must be valid for listener_cpu."
  default     = 1024
}

variable "listener_processes" {
  type        = number
  description = "Listener processes per task (mailbus listen --processes). One per vCPU."
  default     = 1
}

variable "listener_desired_count" {
  type        = number
  description = "Listener tasks at first deploy; autoscaling owns the count afterwards."
  default     = 2
}

variable "listener_min_count" {
  type        = number
  description = "Fewest listener tasks (keep two for one per AZ)."
  default     = 2
}

variable "listener_max_count" {
  type        = number
  description = "Most listener tasks."
  default     = 10
}

variable "listener_cpu_target" {
  type        = number
  description = "Average CPU utilisation (percent) the listener autoscaling aims for."
  default     = 60
}

# --- worker service -------------------------------------------------------------------------

variable "worker_cpu" {
  type        = number
  description = "Fargate CPU units per worker task."
  default     = 1024
}

variable "worker_memory" {
  type        = number
  description = "Memory (MiB) per worker task; must be valid for worker_cpu."
  default     = 2048
}

variable "worker_processes" {
  type        = number
  description = "RQ worker processes per task (mailbus worker --processes)."
  default     = 2
}

variable "worker_desired_count" {
  type        = number
  description = "Worker tasks at first deploy; autoscaling owns the count afterwards."
  default     = 1
}

variable "worker_min_count" {
  type        = number
  description = "Fewest worker tasks. 0 (the default) costs nothing while no mail waits: the listeners' QueueDepth lines start the first worker within about a minute of the first waiting message."
  default     = 0

  validation {
    condition     = var.worker_min_count >= 0 && var.worker_min_count == floor(var.worker_min_count)
    error_message = "worker_min_count must be a whole number, 0 or more."
  }
}

variable "worker_idle_minutes" {
  type        = number
  description = "Minutes of an empty queue after which the workers scale in to worker_min_count."
  default     = 10

  validation {
    condition     = var.worker_idle_minutes >= 1 && var.worker_idle_minutes == floor(var.worker_idle_minutes)
    error_message = "worker_idle_minutes must be a whole number of minutes, at least 1."
  }
}

variable "worker_max_count" {
  type        = number
  description = "Most worker tasks."
  default     = 20
}

variable "worker_target_queue_depth" {
  type        = number
  description = "Queued jobs the worker autoscaling aims for (target tracking on the QueueDepth metric)."
  default     = 100
}

# --- storage --------------------------------------------------------------------------------

variable "retention_days" {
  type        = number
  description = "Days mail is kept: S3 lifecycle expiry of raw messages and attachments, and MAILBUS_RETENTION."
  default     = 30

  validation {
    condition     = var.retention_days >= 1
    error_message = "retention_days must be at least 1."
  }
}

variable "noncurrent_retention_days" {
  type        = number
  description = "Days an overwritten or deleted object version is kept (versioning is on)."
  default     = 7
}

variable "bucket_force_destroy" {
  type        = bool
  description = "Let terraform destroy delete a non-empty bucket. Leave false in production."
  default     = false
}

variable "log_retention_days" {
  type        = number
  description = "Days CloudWatch keeps the listener and worker logs."
  default     = 30
}

variable "container_insights" {
  type        = bool
  description = "Enable CloudWatch Container Insights on the ECS cluster (extra cost, per-task metrics)."
  default     = true
}

# --- Redis ----------------------------------------------------------------------------------

variable "redis_flavor" {
  type        = string
  description = "Queue backend: \"elasticache\" (Valkey replication group, async replication) or \"memorydb\" (durable Multi-AZ log; cluster mode, see infra/README.md)."
  default     = "elasticache"

  validation {
    condition     = contains(["elasticache", "memorydb"], var.redis_flavor)
    error_message = "redis_flavor must be \"elasticache\" or \"memorydb\"."
  }
}

variable "redis_node_type" {
  type        = string
  description = "ElastiCache node type (redis_flavor = elasticache)."
  default     = "cache.t4g.small"
}

variable "redis_engine_version" {
  type        = string
  description = "ElastiCache Valkey engine version."
  default     = "8.0"
}

variable "redis_parameter_group_family" {
  type        = string
  description = "ElastiCache parameter group family matching redis_engine_version."
  default     = "valkey8"
}

variable "redis_replicas" {
  type        = number
  description = "Read replicas besides the primary (ElastiCache) or per shard (MemoryDB). At least 1 for Multi-AZ failover."
  default     = 1

  validation {
    condition     = var.redis_replicas >= 1 && var.redis_replicas <= 5
    error_message = "redis_replicas must be 1-5: automatic failover needs a replica."
  }
}

variable "redis_snapshot_retention_days" {
  type        = number
  description = "Days of daily Redis snapshots to keep (0 disables them)."
  default     = 1
}

variable "memorydb_node_type" {
  type        = string
  description = "MemoryDB node type (redis_flavor = memorydb)."
  default     = "db.t4g.small"
}

variable "memorydb_engine_version" {
  type        = string
  description = "MemoryDB Valkey engine version."
  default     = "7.2"
}

variable "memorydb_parameter_group_family" {
  type        = string
  description = "MemoryDB parameter group family matching memorydb_engine_version."
  default     = "memorydb_valkey7"
}

# --- load balancer and DNS ------------------------------------------------------------------

variable "nlb_deletion_protection" {
  type        = bool
  description = "Protect the NLB from deletion (its DNS name is what your MX record points at)."
  default     = true
}

variable "route53_zone_id" {
  type        = string
  description = "Hosted zone to create the MX records in. null: manage DNS yourself (see infra/README.md)."
  default     = null
}

variable "mx_hostname" {
  type        = string
  description = "Host name the MX points at, e.g. mx.example.com: gets an alias record to the NLB (with route53_zone_id), becomes MAILBUS_HOSTNAME (greeting and Received:), and the STARTTLS certificate must cover it."
  default     = null
}

variable "mx_domain" {
  type        = string
  description = "Domain that gets the MX record, e.g. example.com. Needed with route53_zone_id."
  default     = null
}

# --- HTTP ingress (provider webhooks), off by default ------------------------------------------

variable "ingress_enabled" {
  description = "Run `mailbus ingress` behind an internet-facing HTTPS ALB, for mail that arrives through SES, Mailgun, Postmark or SendGrid webhooks."
  type        = bool
  default     = false
}

variable "ingress_certificate_arn" {
  description = "ACM certificate of the ingress hostname; required when ingress_enabled."
  type        = string
  default     = null
}

variable "ingress_allowed_cidrs" {
  description = "Networks allowed to reach the ingress ALB on 443 (narrow to your providers' published ranges where they publish them)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "ingress_secret_arn" {
  description = "Secrets Manager secret (JSON) holding the providers' credentials under the keys listed in ingress_secret_keys."
  type        = string
  default     = null
}

variable "ingress_secret_keys" {
  description = "Keys present in ingress_secret_arn: mailgun_signing_key, postmark_auth (user:password), sendgrid_auth (user:password). Each enables its endpoint."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for k in var.ingress_secret_keys : contains(["mailgun_signing_key", "postmark_auth", "sendgrid_auth"], k)])
    error_message = "ingress_secret_keys may list mailgun_signing_key, postmark_auth and sendgrid_auth."
  }
}

variable "ingress_ses_topics" {
  description = "SNS topic ARNs of SES receipt rules whose notifications /ingress/ses accepts (MAILBUS_SES_TOPICS)."
  type        = list(string)
  default     = []
}

variable "ingress_ses_bucket_arn" {
  description = "ARN of the bucket an SES S3 action writes to, which the ingress then reads; null when SES delivers through SNS only."
  type        = string
  default     = null
}

variable "ingress_processes" {
  description = "mailbus ingress processes per task (--processes)."
  type        = number
  default     = 1
}

variable "ingress_desired_count" {
  description = "Ingress tasks."
  type        = number
  default     = 2
}

variable "ingress_cpu" {
  description = "Fargate CPU units of an ingress task."
  type        = number
  default     = 512
}

variable "ingress_memory" {
  description = "Fargate memory (MiB) of an ingress task."
  type        = number
  default     = 1024
}
