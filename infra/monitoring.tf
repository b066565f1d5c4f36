# Alarms → SNS, and one dashboard.

resource "aws_sns_topic" "alarms" {
  #checkov:skip=CKV_AWS_26:With enable_kms = false the topic is unencrypted on purpose: CloudWatch alarms cannot publish to a topic encrypted with the AWS managed key alias/aws/sns (SNS docs, "Enable compatibility between event sources from AWS services and encrypted topics"), and alarm messages carry no log data. With enable_kms = true it uses the deployment's customer managed key.
  count = var.alarm_sns_topic_arn == null ? 1 : 0

  name = "${var.name_prefix}-alarms"
  # Only a customer managed key: its policy lets cloudwatch.amazonaws.com use it (kms.tf).
  kms_master_key_id = var.enable_kms ? local.kms_key_arn : null
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email != null && var.alarm_sns_topic_arn == null ? 1 : 0

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alarm_topic_arn = coalesce(var.alarm_sns_topic_arn, try(aws_sns_topic.alarms[0].arn, null))

  dlqs = merge(
    {
      trigger = aws_sqs_queue.lambda_dlq.name
      events  = aws_sqs_queue.events_dlq.name
    },
    var.batching_enabled ? { batch = aws_sqs_queue.batch_dlq[0].name } : {},
  )
}

# Glue job failures, seen through "Glue Job State Change" events: the rule's match count is the
# metric.
resource "aws_cloudwatch_event_rule" "glue_job_failed" {
  name        = "${var.name_prefix}-glue-job-failed"
  description = "Failed, timed-out or errored runs of the transform job"

  event_pattern = jsonencode({
    source        = ["aws.glue"]
    "detail-type" = ["Glue Job State Change"]
    detail = {
      jobName = [local.glue_job_name]
      state   = ["FAILED", "TIMEOUT", "ERROR"]
    }
  })
}

# Runs still going after notify_delay_after (glue_job.tf): their ledger items sit in STARTED.
resource "aws_cloudwatch_event_rule" "glue_run_stuck" {
  name        = "${var.name_prefix}-glue-run-stuck"
  description = "Transform runs running longer than the notify delay (ledger items stuck in STARTED)"

  event_pattern = jsonencode({
    source        = ["aws.glue"]
    "detail-type" = ["Glue Job Run Status"]
    detail        = { jobName = [local.glue_job_name] }
  })
}

# Every alarm: a metric above zero over 5 minutes notifies the topic (and again when it clears).
locals {
  alarms = merge(
    {
      lambda-errors = {
        namespace   = "AWS/Lambda"
        metric      = "Errors"
        dimensions  = { FunctionName = local.function_name }
        statistic   = "Sum"
        description = "The trigger failed invocations: objects were not started (they are retried, then land in a DLQ). See docs/operations.md."
      }
      lambda-throttles = {
        namespace   = "AWS/Lambda"
        metric      = "Throttles"
        dimensions  = { FunctionName = local.function_name }
        statistic   = "Sum"
        description = "The trigger hit its reserved concurrency: events wait for retries. Raise lambda_reserved_concurrency if sustained."
      }
      glue-failures = {
        namespace   = "AWS/Events"
        metric      = "MatchedEvents"
        dimensions  = { RuleName = aws_cloudwatch_event_rule.glue_job_failed.name }
        statistic   = "Sum"
        description = "A transform run failed: its objects are FAILED in the ledger and retried while attempts remain. See the run's log stream."
      }
      glue-stuck = {
        namespace   = "AWS/Events"
        metric      = "MatchedEvents"
        dimensions  = { RuleName = aws_cloudwatch_event_rule.glue_run_stuck.name }
        statistic   = "Sum"
        description = "A transform run has been running for over 30 minutes: its ledger items are stuck in STARTED."
      }
    },
    { for k, q in local.dlqs : "${k}-dlq-not-empty" => {
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = q }
      statistic   = "Maximum"
      description = "Messages in ${q}: events that were not processed. Replay them (docs/operations.md)."
    } },
  )
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name_prefix}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name_prefix

  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "Trigger Lambda"
          region = var.region
          stat   = "Sum"
          period = 300
          metrics = [
            ["AWS/Lambda", "Invocations", "FunctionName", local.function_name],
            [".", "Errors", ".", "."],
            [".", "Throttles", ".", "."],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Trigger outcomes (EMF)"
          region = var.region
          stat   = "Sum"
          period = 300
          metrics = [
            ["loglake", "EventsReceived", "Function", local.function_name],
            [".", "RunsStarted", ".", "."],
            [".", "DuplicatesSkipped", ".", "."],
            [".", "Failures", ".", "."],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title  = "Transform runs: failed and stuck"
          region = var.region
          stat   = "Sum"
          period = 300
          metrics = [
            ["AWS/Events", "MatchedEvents", "RuleName", aws_cloudwatch_event_rule.glue_job_failed.name],
            [".", ".", ".", aws_cloudwatch_event_rule.glue_run_stuck.name],
            [".", ".", ".", aws_cloudwatch_event_rule.glue_job_state.name],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title   = "Dead-letter queues"
          region  = var.region
          stat    = "Maximum"
          period  = 300
          metrics = [for q in values(local.dlqs) : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q]]
        }
      },
    ]
  })
}
