# The Glue job that runs the Rust transform (DESIGN.md section 6). The entry script, the
# `loglake` binary (shipped to the workers with --extra-files) and the schema are uploaded to the
# code bucket; their content hashes make a changed artifact a changed object.

resource "aws_s3_object" "glue_script" {
  bucket      = aws_s3_bucket.this["code"].id
  key         = "glue/${basename(local.glue_script_path)}"
  source      = local.glue_script_path
  source_hash = filemd5(local.glue_script_path)
  kms_key_id  = local.kms_key_arn
}

resource "aws_s3_object" "glue_binary" {
  bucket      = aws_s3_bucket.this["code"].id
  key         = "artifacts/loglake"
  source      = local.glue_binary_path
  source_hash = filemd5(local.glue_binary_path)
  kms_key_id  = local.kms_key_arn
}

resource "aws_s3_object" "schema" {
  bucket       = aws_s3_bucket.this["code"].id
  key          = "schemas/${local.table_name}.json"
  source       = local.schema_path
  source_hash  = filemd5(local.schema_path)
  content_type = "application/json"
  kms_key_id   = local.kms_key_arn
}

# Glue 5.0 writes a job's logs to `<--custom-logGroup-prefix>/error` (system, Spark, Glue logger)
# and `<prefix>/output` (the script's stdout and stderr) ("Logging for AWS Glue jobs"; the 4.0-era
# continuous-logging options do not apply). Both groups are created here, with retention and the
# key, so nothing lands in a group Glue would create without either.
resource "aws_cloudwatch_log_group" "glue" {
  for_each = toset(["error", "output"])

  name              = "${local.glue_log_group_prefix}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
}

resource "aws_glue_security_configuration" "this" {
  #checkov:skip=CKV_AWS_99:CloudWatch encryption is off in the security configuration only: the job's log groups (aws_cloudwatch_log_group.glue) are encrypted with the key by CloudWatch Logs, and turning it on would move the logs to groups Glue names itself.
  name = "${var.name_prefix}-transform"

  encryption_configuration {
    s3_encryption {
      s3_encryption_mode = var.enable_kms ? "SSE-KMS" : "SSE-S3"
      kms_key_arn        = local.kms_key_arn
    }
    # Off on purpose: with it on, Glue writes to groups named after the role and the security
    # configuration (Glue API, JobRun.LogGroupName), not to the prefix's groups above, and how the
    # two settings combine is not documented. The groups above are encrypted with the key anyway
    # (kms_key_id: CloudWatch Logs encrypts them itself).
    cloudwatch_encryption {
      cloudwatch_encryption_mode = "DISABLED"
    }
    job_bookmarks_encryption {
      job_bookmarks_encryption_mode = var.enable_kms ? "CSE-KMS" : "DISABLED"
      kms_key_arn                   = local.kms_key_arn
    }
  }
}

resource "aws_glue_job" "transform" {
  name                    = local.glue_job_name
  description             = "loglake: raw JSON logs -> partitioned zstd Parquet + catalog partitions"
  role_arn                = aws_iam_role.glue.arn
  glue_version            = var.glue_version
  worker_type             = var.glue_worker_type
  number_of_workers       = var.glue_number_of_workers
  timeout                 = var.glue_timeout_minutes
  max_retries             = 0 # the trigger and the ledger own retries
  security_configuration  = aws_glue_security_configuration.this.name
  job_run_queuing_enabled = true

  command {
    name            = "glueetl"
    script_location = "s3://${aws_s3_object.glue_script.bucket}/${aws_s3_object.glue_script.key}"
    python_version  = "3"
  }

  execution_property {
    max_concurrent_runs = var.glue_max_concurrent_runs
  }

  # A run still going after 30 minutes emits "Glue Job Run Status" (monitoring.tf alarms on it):
  # that is how a ledger item stuck in STARTED becomes visible.
  notification_property {
    notify_delay_after = 30
  }

  default_arguments = {
    "--job-language"                 = "python"
    "--extra-files"                  = "s3://${aws_s3_object.glue_binary.bucket}/${aws_s3_object.glue_binary.key}"
    "--custom-logGroup-prefix"       = local.glue_log_group_prefix
    "--enable-metrics"               = "true"
    "--enable-observability-metrics" = "true"
    "--TempDir"                      = "s3://${aws_s3_bucket.this["code"].id}/tmp/glue/"
    "--LOGLAKE_OUTPUT"               = "s3://${aws_s3_bucket.this["clean"].id}"
    "--LOGLAKE_SCHEMA"               = "s3://${aws_s3_object.schema.bucket}/${aws_s3_object.schema.key}"
    "--LOGLAKE_DATABASE"             = aws_glue_catalog_database.this.name
    "--LOGLAKE_TABLE"                = aws_glue_catalog_table.logs.name
    "--LOGLAKE_LEDGER_TABLE"         = aws_dynamodb_table.ledger.name
    # Passed to every `loglake` subprocess with the executor's credentials: the executors'
    # environment is not documented to carry a region.
    "--LOGLAKE_REGION" = var.region
  }

  depends_on = [aws_cloudwatch_log_group.glue]
}
