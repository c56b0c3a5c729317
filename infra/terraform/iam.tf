# Owns: the IAM roles of the tasks. Execution roles (ECS agent: pull, logs, the named secrets)
# and task roles (the application): the listener may only put raw objects; the worker may read
# raw objects and put and read attachments and done markers. Nobody may delete mail.
data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# --- execution roles ------------------------------------------------------------------------

locals {
  tls_secret_arns = local.starttls ? [var.tls_secret_arn] : []
  tls_kms_arns    = var.tls_secret_kms_key_arn != null ? [var.tls_secret_kms_key_arn] : []
}

resource "aws_iam_role" "listener_execution" {
  name               = "${var.name}-listener-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role" "worker_execution" {
  name               = "${var.name}-worker-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# Image pull and log delivery: AWS's managed policy for exactly this (no secrets in it).
resource "aws_iam_role_policy_attachment" "listener_execution" {
  role       = aws_iam_role.listener_execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role_policy_attachment" "worker_execution" {
  role       = aws_iam_role.worker_execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "listener_execution_secrets" {
  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = concat([aws_secretsmanager_secret.redis.arn], local.tls_secret_arns)
  }

  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = concat([aws_kms_key.main.arn], local.tls_kms_arns)

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.aws_region}.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "worker_execution_secrets" {
  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.redis.arn]
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

resource "aws_iam_role_policy" "listener_execution_secrets" {
  name   = "secrets"
  role   = aws_iam_role.listener_execution.id
  policy = data.aws_iam_policy_document.listener_execution_secrets.json
}

resource "aws_iam_role_policy" "worker_execution_secrets" {
  name   = "secrets"
  role   = aws_iam_role.worker_execution.id
  policy = data.aws_iam_policy_document.worker_execution_secrets.json
}

# --- task roles -----------------------------------------------------------------------------

resource "aws_iam_role" "listener_task" {
  name               = "${var.name}-listener-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role" "worker_task" {
  name               = "${var.name}-worker-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# The listener writes each raw message once and never reads anything back: a compromised
# listener (the internet-facing part) can add mail but cannot read anyone's. Its readiness
# probe may only write under probe/ (no read-back, no delete: lifecycle expires it).
data "aws_iam_policy_document" "listener_task" {
  statement {
    sid     = "PutRawMessages"
    actions = ["s3:PutObject"]
    resources = [
      "${aws_s3_bucket.mail.arn}/${local.raw_prefix}*",
      "${aws_s3_bucket.mail.arn}/${local.probe_prefix}*",
    ]
  }

  # SSE-KMS: PUT needs a data key; multipart PUT also needs Decrypt. Only through S3.
  statement {
    sid       = "EncryptViaS3"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.aws_region}.amazonaws.com"]
    }
  }
}

# The worker reads raw messages (and lists them, for mailbus reconcile and so that a missing
# key is a 404 rather than a 403), writes attachments and done/ markers and reads them back
# (Attachment.read(), dedupe, reconcile). DeleteObject only under probe/, for the readiness
# probe's clean-up. No delete of mail: raw objects are the record of truth and expire by
# lifecycle, re-runs overwrite attachments idempotently, and user handler code runs with this
# role, so a buggy or hostile handler must not be able to erase mail. The retention sweep
# (mailbus.retention) renews the raw object of a dead letter by copying it onto itself, so
# raw/ takes a PutObject only as a copy from raw/; it reads the bucket's lifecycle rules to
# check that expire-mail (s3.tf) covers MAILBUS_RETENTION, but may not change them.
data "aws_iam_policy_document" "worker_task" {
  statement {
    sid       = "ReadRawMessages"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.mail.arn}/${local.raw_prefix}*"]
  }

  statement {
    sid       = "RenewRawMessagesByCopy"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.mail.arn}/${local.raw_prefix}*"]

    condition {
      test     = "StringLike"
      variable = "s3:x-amz-copy-source"
      values   = ["${aws_s3_bucket.mail.bucket}/${local.raw_prefix}*"]
    }
  }

  statement {
    sid       = "ReadExpiryRule"
    actions   = ["s3:GetLifecycleConfiguration"]
    resources = [aws_s3_bucket.mail.arn]
  }

  statement {
    sid     = "WriteAndReadAttachmentsAndMarkers"
    actions = ["s3:PutObject", "s3:GetObject"]
    resources = [
      "${aws_s3_bucket.mail.arn}/${local.attachments_prefix}*",
      "${aws_s3_bucket.mail.arn}/${local.done_prefix}*",
      "${aws_s3_bucket.mail.arn}/${local.probe_prefix}*",
    ]
  }

  statement {
    sid       = "DeleteReadinessProbe"
    actions   = ["s3:DeleteObject"]
    resources = ["${aws_s3_bucket.mail.arn}/${local.probe_prefix}*"]
  }

  statement {
    sid       = "ListOwnPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.mail.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values = [
        "${local.raw_prefix}*",
        "${local.attachments_prefix}*",
        "${local.done_prefix}*",
      ]
    }
  }

  statement {
    sid       = "EncryptDecryptViaS3"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.aws_region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "listener_task" {
  name   = "mail-store"
  role   = aws_iam_role.listener_task.id
  policy = data.aws_iam_policy_document.listener_task.json
}

resource "aws_iam_role_policy" "worker_task" {
  name   = "mail-store"
  role   = aws_iam_role.worker_task.id
  policy = data.aws_iam_policy_document.worker_task.json
}
