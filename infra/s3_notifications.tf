# Raw bucket → EventBridge → (per-object) the trigger Lambda, or (batching) an SQS queue that
# feeds the Lambda in batches. A second rule sends Glue job state changes to the Lambda, which
# moves ledger items STARTED → SUCCEEDED/FAILED.

resource "aws_s3_bucket_notification" "raw" {
  bucket      = aws_s3_bucket.this["raw"].id
  eventbridge = true
}

resource "aws_cloudwatch_event_rule" "raw_object_created" {
  name        = "${var.name_prefix}-raw-object-created"
  description = "Object Created in the raw bucket under ${var.raw_prefix} with an accepted suffix and size > 0"

  # One wildcard per suffix: each pattern requires the prefix AND the suffix (a list of
  # separate prefix and suffix filters would be an OR).
  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [aws_s3_bucket.this["raw"].id] }
      object = {
        key  = [for s in var.raw_suffixes : { wildcard = "${var.raw_prefix}*${s}" }]
        size = [{ numeric = [">", 0] }]
      }
    }
  })
}

resource "aws_cloudwatch_event_rule" "glue_job_state" {
  name        = "${var.name_prefix}-glue-job-state"
  description = "Final states of the transform job's runs, for the ledger"

  event_pattern = jsonencode({
    source        = ["aws.glue"]
    "detail-type" = ["Glue Job State Change"]
    detail = {
      jobName = [local.glue_job_name]
      state   = ["SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR"]
    }
  })
}

# Events EventBridge could not deliver after its retries.
resource "aws_sqs_queue" "events_dlq" {
  name                      = "${var.name_prefix}-events-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = local.kms_key_arn
  sqs_managed_sse_enabled   = var.enable_kms ? null : true
}

data "aws_iam_policy_document" "events_dlq" {
  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events_dlq.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.raw_object_created.arn, aws_cloudwatch_event_rule.glue_job_state.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "events_dlq" {
  queue_url = aws_sqs_queue.events_dlq.id
  policy    = data.aws_iam_policy_document.events_dlq.json
}

# Per-object mode: the rule invokes the Lambda directly.
resource "aws_cloudwatch_event_target" "raw_to_lambda" {
  count = var.batching_enabled ? 0 : 1

  rule      = aws_cloudwatch_event_rule.raw_object_created.name
  target_id = "trigger-lambda"
  arn       = aws_lambda_function.trigger.arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 20
  }
  dead_letter_config {
    arn = aws_sqs_queue.events_dlq.arn
  }
}

resource "aws_lambda_permission" "raw_rule" {
  count = var.batching_enabled ? 0 : 1

  statement_id  = "AllowRawObjectCreatedRule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.trigger.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.raw_object_created.arn
}

# Batching mode: the rule feeds a queue; the Lambda reads it in batches.
resource "aws_sqs_queue" "batch_dlq" {
  count = var.batching_enabled ? 1 : 0

  name                      = "${var.name_prefix}-batch-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = local.kms_key_arn
  sqs_managed_sse_enabled   = var.enable_kms ? null : true
}

resource "aws_sqs_queue" "batch" {
  count = var.batching_enabled ? 1 : 0

  name = "${var.name_prefix}-raw-objects"
  # At least 6x the function timeout, as AWS recommends for Lambda event sources.
  visibility_timeout_seconds = 6 * local.lambda_timeout
  message_retention_seconds  = 345600
  kms_master_key_id          = local.kms_key_arn
  sqs_managed_sse_enabled    = var.enable_kms ? null : true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.batch_dlq[0].arn
    maxReceiveCount     = 5
  })
}

data "aws_iam_policy_document" "batch_queue" {
  count = var.batching_enabled ? 1 : 0

  statement {
    sid       = "RawObjectCreatedRule"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.batch[0].arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.raw_object_created.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "batch" {
  count = var.batching_enabled ? 1 : 0

  queue_url = aws_sqs_queue.batch[0].id
  policy    = data.aws_iam_policy_document.batch_queue[0].json
}

resource "aws_cloudwatch_event_target" "raw_to_queue" {
  count = var.batching_enabled ? 1 : 0

  rule      = aws_cloudwatch_event_rule.raw_object_created.name
  target_id = "batch-queue"
  arn       = aws_sqs_queue.batch[0].arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 20
  }
  dead_letter_config {
    arn = aws_sqs_queue.events_dlq.arn
  }
}

resource "aws_lambda_event_source_mapping" "batch" {
  count = var.batching_enabled ? 1 : 0

  event_source_arn                   = aws_sqs_queue.batch[0].arn
  function_name                      = aws_lambda_function.trigger.arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batch_window_seconds
  # Only the messages the handler reports as failed are retried (batchItemFailures).
  function_response_types = ["ReportBatchItemFailures"]

  # The mapping's own concurrency bound ("Configuring scaling behavior for SQS event source
  # mappings"): it does not account for reserved concurrency, so a reservation alone would let
  # it receive messages the function cannot take, and those receives count toward the redrive.
  scaling_config {
    maximum_concurrency = var.batch_maximum_concurrency
  }
}

# Both modes: Glue job state changes go to the Lambda.
resource "aws_cloudwatch_event_target" "glue_state_to_lambda" {
  rule      = aws_cloudwatch_event_rule.glue_job_state.name
  target_id = "trigger-lambda"
  arn       = aws_lambda_function.trigger.arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 20
  }
  dead_letter_config {
    arn = aws_sqs_queue.events_dlq.arn
  }
}

resource "aws_lambda_permission" "glue_state_rule" {
  statement_id  = "AllowGlueJobStateRule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.trigger.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.glue_job_state.arn
}
