# Owns: the bucket that holds raw messages (the record of truth on AWS) and attachments, with
# encryption, versioning, lifecycle expiry, blocked public access and a TLS-only policy.
resource "aws_s3_bucket" "mail" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a second bucket per deployment; the task roles are the only writers and CloudTrail S3 data events are the better audit trail where wanted.
  #checkov:skip=CKV_AWS_144:Cross-region replication of mail is a data-residency decision for the operator, not a default; versioning plus lifecycle cover accidental overwrites.
  #checkov:skip=CKV2_AWS_62:Nothing consumes S3 event notifications: the listener enqueues the job itself after the PUT, and mailbus reconcile covers lost jobs.
  bucket        = "${var.name}-mail-${local.account_id}-${var.aws_region}"
  force_destroy = var.bucket_force_destroy
}

resource "aws_s3_bucket_ownership_controls" "mail" {
  bucket = aws_s3_bucket.mail.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "mail" {
  bucket                  = aws_s3_bucket.mail.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "mail" {
  bucket = aws_s3_bucket.mail.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    # One KMS call per bucket key instead of per object keeps KMS cost flat at high mail rates.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "mail" {
  bucket = aws_s3_bucket.mail.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "mail" {
  bucket = aws_s3_bucket.mail.id

  # Versioning must be on before a noncurrent-version rule can be accepted.
  depends_on = [aws_s3_bucket_versioning.mail]

  rule {
    id     = "expire-mail"
    status = "Enabled"

    filter {
      prefix = "${local.store_prefix}/"
    }

    expiration {
      days = var.retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_retention_days
    }
  }

  # Bucket-wide: parts of an upload that never completed are billed but unusable.
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "mail_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.mail.arn, "${aws_s3_bucket.mail.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "mail" {
  bucket = aws_s3_bucket.mail.id
  policy = data.aws_iam_policy_document.mail_bucket.json

  # A bucket policy cannot be attached while the public access block is still being created.
  depends_on = [aws_s3_bucket_public_access_block.mail]
}
