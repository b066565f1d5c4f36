# Four buckets with the same hardening: raw (input), clean (Parquet + quarantine), code
# (artifacts, manifests, Athena results) and logs (S3 server access logs of the other three).
locals {
  buckets = {
    raw   = { name = local.bucket_names.raw, logged = true }
    clean = { name = local.bucket_names.clean, logged = true }
    code  = { name = local.bucket_names.code, logged = true }
    logs  = { name = local.bucket_names.logs, logged = false }
  }
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Access logging is set by aws_s3_bucket_logging.this (raw, clean, code -> logs bucket), which checkov does not link across for_each; the logs bucket cannot log to itself.
  #checkov:skip=CKV_AWS_145:SSE-KMS with the customer key when enable_kms (default true); the logs bucket stays SSE-S3 because S3 server access logs cannot be delivered to SSE-KMS buckets.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a deployment choice (cost, data residency); raw data is versioned and reprocessable.
  #checkov:skip=CKV2_AWS_62:Only the raw bucket drives events (EventBridge, s3_notifications.tf); the others have no consumers.

  for_each = local.buckets

  bucket = each.value.name
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  rule {
    apply_server_side_encryption_by_default {
      # S3 server access logs can only be delivered to SSE-S3 buckets.
      sse_algorithm     = var.enable_kms && each.key != "logs" ? "aws:kms" : "AES256"
      kms_master_key_id = var.enable_kms && each.key != "logs" ? local.kms_key_arn : null
    }
    bucket_key_enabled = var.enable_kms && each.key != "logs"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = local.buckets

  bucket                  = aws_s3_bucket.this[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

data "aws_iam_policy_document" "bucket" {
  for_each = local.buckets

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this[each.key].arn,
      "${aws_s3_bucket.this[each.key].arn}/*",
    ]
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

  dynamic "statement" {
    for_each = each.key == "logs" ? [1] : []
    content {
      sid       = "S3ServerAccessLogs"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.this[each.key].arn}/access/*"]
      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  policy = data.aws_iam_policy_document.bucket[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_logging" "this" {
  for_each = { for k, v in local.buckets : k => v if v.logged }

  bucket        = aws_s3_bucket.this[each.key].id
  target_bucket = aws_s3_bucket.this["logs"].id
  target_prefix = "access/${each.key}/"

  # S3 checks at this call that the logs bucket lets the logging service write.
  depends_on = [aws_s3_bucket_policy.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "raw" {
  bucket = aws_s3_bucket.this["raw"].id

  rule {
    id     = "raw-objects"
    status = "Enabled"
    filter {}
    transition {
      days          = var.raw_transition_days
      storage_class = "STANDARD_IA"
    }
    expiration {
      days = var.raw_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "clean" {
  bucket = aws_s3_bucket.this["clean"].id

  rule {
    id     = "clean-objects"
    status = "Enabled"
    filter {}
    # Reprocessing overwrites files: old versions are only a safety net.
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
    dynamic "expiration" {
      for_each = var.clean_retention_days > 0 ? [var.clean_retention_days] : []
      content {
        days = expiration.value
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "code" {
  bucket = aws_s3_bucket.this["code"].id

  rule {
    id     = "noncurrent-artifacts"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "transient-state"
    status = "Enabled"
    filter {
      prefix = "tmp/"
    }
    expiration {
      days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.this["logs"].id

  rule {
    id     = "access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}
