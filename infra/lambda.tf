# The trigger: s3-raw-start-glue (Rust, provided.al2023). Built by scripts/package.sh into
# build/trigger_glue.zip (an executable `bootstrap`).

resource "aws_cloudwatch_log_group" "lambda" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
}

# Async invocations (EventBridge) that failed all of Lambda's retries.
resource "aws_sqs_queue" "lambda_dlq" {
  name                      = "${var.name_prefix}-trigger-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = local.kms_key_arn
  sqs_managed_sse_enabled   = var.enable_kms ? null : true
}

resource "aws_lambda_function" "trigger" {
  #checkov:skip=CKV_AWS_117:The function only calls AWS APIs (S3, DynamoDB, Glue, SQS); a VPC would add NAT or endpoints and cold-start cost without isolating anything.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile in the deploying account; the zip is built reproducibly by scripts/package.sh and its hash is pinned by source_code_hash.

  function_name = local.function_name
  description   = "loglake: S3 raw object events -> DynamoDB idempotency ledger -> Glue StartJobRun"
  role          = aws_iam_role.trigger.arn

  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.lambda_architecture]
  filename         = local.lambda_zip_path
  source_code_hash = filebase64sha256(local.lambda_zip_path)

  memory_size                    = 256
  timeout                        = local.lambda_timeout
  reserved_concurrent_executions = var.lambda_reserved_concurrency
  kms_key_arn                    = local.kms_key_arn

  environment {
    variables = {
      LOGLAKE_LEDGER_TABLE      = aws_dynamodb_table.ledger.name
      LOGLAKE_LEDGER_TTL_DAYS   = tostring(var.ledger_ttl_days)
      LOGLAKE_GLUE_JOB          = local.glue_job_name
      LOGLAKE_RAW_BUCKET        = aws_s3_bucket.this["raw"].id
      LOGLAKE_RAW_PREFIX        = var.raw_prefix
      LOGLAKE_MANIFEST_BUCKET   = aws_s3_bucket.this["code"].id
      LOGLAKE_MANIFEST_PREFIX   = "tmp/manifests/"
      LOGLAKE_MODE              = var.batching_enabled ? "batch" : "per-object"
      LOGLAKE_METRICS_NAMESPACE = "loglake"
      RUST_LOG                  = "info"
    }
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.lambda_dlq.arn
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.lambda.name
  }

  depends_on = [aws_iam_role_policy.trigger, aws_cloudwatch_log_group.lambda]
}

resource "aws_lambda_function_event_invoke_config" "trigger" {
  function_name                = aws_lambda_function.trigger.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600
}
