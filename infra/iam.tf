# One role per principal, inline policies scoped to exact ARNs and prefixes.

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "glue_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }
  }
}

locals {
  raw_arn      = aws_s3_bucket.this["raw"].arn
  clean_arn    = aws_s3_bucket.this["clean"].arn
  code_arn     = aws_s3_bucket.this["code"].arn
  glue_job_arn = "arn:${local.partition}:glue:${var.region}:${local.account_id}:job/${local.glue_job_name}"
  catalog_arns = [
    "arn:${local.partition}:glue:${var.region}:${local.account_id}:catalog",
    "arn:${local.partition}:glue:${var.region}:${local.account_id}:database/${local.database_name}",
    "arn:${local.partition}:glue:${var.region}:${local.account_id}:table/${local.database_name}/${local.table_name}",
  ]
}

# --- Trigger Lambda -------------------------------------------------------------------------

resource "aws_iam_role" "trigger" {
  name               = local.function_name
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "trigger" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
  }

  statement {
    sid       = "HeadRawObjects"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.raw_arn}/${var.raw_prefix}*"]
  }

  # S3 answers HeadObject of a missing key with 404 only to a caller that has s3:ListBucket on
  # the bucket, else 403 (S3 API Reference, HeadObject, "Permissions"). The trigger needs the
  # 404 to skip a deleted object. No s3:prefix condition: a HeadObject request carries no prefix,
  # so a grant conditioned on one does not apply to it. The trigger lists nothing itself.
  statement {
    sid       = "HeadMissingRawObjects"
    actions   = ["s3:ListBucket"]
    resources = [local.raw_arn]
  }

  # Batch mode writes one manifest per run; a run's end reads it back to finish its items.
  statement {
    sid       = "BatchManifests"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${local.code_arn}/tmp/manifests/*"]
  }

  statement {
    sid       = "Ledger"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.ledger.arn]
  }

  statement {
    sid       = "StartGlueRuns"
    actions   = ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns"]
    resources = [local.glue_job_arn]
  }

  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.lambda_dlq.arn]
  }

  dynamic "statement" {
    for_each = var.batching_enabled ? [1] : []
    content {
      sid       = "ReadBatchQueue"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
      resources = [aws_sqs_queue.batch[0].arn]
    }
  }

  dynamic "statement" {
    for_each = var.enable_kms ? [1] : []
    content {
      sid       = "Kms"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [local.kms_key_arn]
    }
  }

  # X-Ray has no resource-level permissions: "*" is the only valid resource.
  statement {
    sid       = "XRay"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "trigger" {
  name   = "trigger"
  role   = aws_iam_role.trigger.id
  policy = data.aws_iam_policy_document.trigger.json
}

# --- Glue job ---------------------------------------------------------------------------------

resource "aws_iam_role" "glue" {
  name               = "${local.glue_job_name}-glue"
  assume_role_policy = data.aws_iam_policy_document.glue_assume.json
}

data "aws_iam_policy_document" "glue" {
  statement {
    sid       = "ReadRaw"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.raw_arn}/${var.raw_prefix}*"]
  }

  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket"]
    resources = [local.raw_arn, local.clean_arn, local.code_arn]
  }

  statement {
    sid       = "WriteClean"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${local.clean_arn}/clean/*", "${local.clean_arn}/quarantine/*"]
  }

  statement {
    sid       = "ReadCode"
    actions   = ["s3:GetObject"]
    resources = ["${local.code_arn}/glue/*", "${local.code_arn}/artifacts/*", "${local.code_arn}/schemas/*", "${local.code_arn}/tmp/manifests/*"]
  }

  statement {
    sid       = "GlueTemp"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.code_arn}/tmp/glue/*"]
  }

  statement {
    sid = "Catalog"
    actions = [
      "glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions",
      "glue:BatchGetPartition", "glue:CreatePartition", "glue:BatchCreatePartition",
      # Compaction's one catalog step per partition.
      "glue:UpdatePartition",
    ]
    resources = local.catalog_arns
  }

  # A compaction run takes over a partition claim whose run has ended without a result.
  statement {
    sid       = "OwnRuns"
    actions   = ["glue:GetJobRun"]
    resources = [local.glue_job_arn]
  }

  statement {
    sid       = "Ledger"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.ledger.arn]
  }

  # The job's two log groups (glue_job.tf); Glue creates the streams in them.
  statement {
    sid       = "JobLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = flatten([for g in aws_cloudwatch_log_group.glue : [g.arn, "${g.arn}:*"]])
  }

  # PutMetricData has no resource-level permissions; the namespace condition scopes it.
  statement {
    sid       = "JobMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["Glue", "loglake"]
    }
  }

  dynamic "statement" {
    for_each = var.enable_kms ? [1] : []
    content {
      sid       = "Kms"
      actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
      resources = [local.kms_key_arn]
    }
  }
}

resource "aws_iam_role_policy" "glue" {
  name   = "transform"
  role   = aws_iam_role.glue.id
  policy = data.aws_iam_policy_document.glue.json
}
