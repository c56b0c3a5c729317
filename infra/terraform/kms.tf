# Owns: the one customer-managed KMS key that encrypts the bucket, the logs, the secrets and
# Redis at rest, and its key policy.
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:This is a KMS key policy: its Resource "*" means "this key" only, and the account-root statement is the standard delegation to IAM.
  #checkov:skip=CKV_AWS_111:This is a KMS key policy: its Resource "*" means "this key" only; the logs statement is bounded by the encryption-context condition.
  #checkov:skip=CKV_AWS_356:This is a KMS key policy: Resource "*" is the only valid form and refers to the key the policy is attached to.
  # Key administration stays with the account; IAM policies grant use (see iam.tf).
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts only this deployment's log groups with the key.
  statement {
    sid = "CloudWatchLogsUse"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.aws_region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:/mailbus/${var.name}/*"]
    }
  }
}

resource "aws_kms_key" "main" {
  description             = "${var.name}: mail bucket, logs, secrets and Redis at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.main.key_id
}
