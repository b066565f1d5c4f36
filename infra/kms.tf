# One customer-managed key for the deployment's data at rest (buckets, ledger, queues, topic,
# logs, Glue output), when enable_kms is true.
resource "aws_kms_key" "this" {
  count = var.enable_kms ? 1 : 0

  description             = "${var.name_prefix}: data at rest of the loglake pipeline"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms[0].json
}

resource "aws_kms_alias" "this" {
  count = var.enable_kms ? 1 : 0

  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.this[0].key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:This is a KMS key policy: its "*" resource means this key only, and each statement is limited by principal and condition.
  #checkov:skip=CKV_AWS_111:This is a KMS key policy: its "*" resource means this key only, and each statement is limited by principal and condition.
  #checkov:skip=CKV_AWS_356:This is a KMS key policy: its "*" resource means this key only, and each statement is limited by principal and condition.
  count = var.enable_kms ? 1 : 0

  # A key policy's own "*" resource means "this key"; it cannot name itself before it exists.
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
    }
  }

  # EventBridge sends to the encrypted queues (the batch queue, the DLQs) and CloudWatch alarms
  # publish to the encrypted topic. This is the statement AWS documents for AWS services that
  # send to encrypted queues and topics: the service principal with kms:GenerateDataKey* and
  # kms:Decrypt, and no condition (SQS Developer Guide, "Enable compatibility between event
  # sources from AWS services and encrypted queues"; SNS Developer Guide, the same for encrypted
  # topics). A condition on aws:SourceAccount is not part of it: if the KMS request SQS makes on
  # EventBridge's behalf does not carry the key, every send fails and the event is dropped.
  statement {
    sid       = "EventSourcesOfAwsServices"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "cloudwatch.amazonaws.com"]
    }
  }
}
