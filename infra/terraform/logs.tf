# Owns: the CloudWatch log groups of the two roles. The workers' QueueDepth metric is
# extracted from their embedded-metric-format lines in the worker group.
resource "aws_cloudwatch_log_group" "listener" {
  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable (default 30): session logs hold e-mail addresses and client IPs, so a one-year default would keep personal data longer than operating needs.
  name              = "/mailbus/${var.name}/listener"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "worker" {
  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable (default 30): job logs hold e-mail addresses and subjects, so a one-year default would keep personal data longer than operating needs.
  name              = "/mailbus/${var.name}/worker"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}
