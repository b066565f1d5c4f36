output "raw_bucket" {
  description = "Bucket that raw JSON logs are written to (under raw_prefix)."
  value       = aws_s3_bucket.this["raw"].id
}

output "clean_bucket" {
  description = "Bucket holding the Parquet table (clean/) and quarantined records (quarantine/)."
  value       = aws_s3_bucket.this["clean"].id
}

output "code_bucket" {
  description = "Bucket holding the Glue script and artifacts, trigger manifests and Athena results."
  value       = aws_s3_bucket.this["code"].id
}

output "function_name" {
  description = "Name of the trigger Lambda."
  value       = aws_lambda_function.trigger.function_name
}

output "function_arn" {
  description = "ARN of the trigger Lambda."
  value       = aws_lambda_function.trigger.arn
}

output "glue_job_name" {
  description = "Name of the Glue transform job."
  value       = aws_glue_job.transform.name
}

output "ledger_table" {
  description = "DynamoDB idempotency ledger table."
  value       = aws_dynamodb_table.ledger.name
}

output "glue_database" {
  description = "Glue Data Catalog database."
  value       = aws_glue_catalog_database.this.name
}

output "glue_table" {
  description = "Glue Data Catalog table of the clean logs."
  value       = aws_glue_catalog_table.logs.name
}

output "athena_workgroup" {
  description = "Athena workgroup with encrypted results and the named queries."
  value       = aws_athena_workgroup.this.name
}

output "trigger_dlq_url" {
  description = "SQS dead-letter queue of the trigger Lambda's failed async invocations."
  value       = aws_sqs_queue.lambda_dlq.id
}

output "events_dlq_url" {
  description = "SQS dead-letter queue of events EventBridge could not deliver."
  value       = aws_sqs_queue.events_dlq.id
}

output "batch_queue_url" {
  description = "Batching mode: the queue of raw object events (null in per-object mode)."
  value       = try(aws_sqs_queue.batch[0].id, null)
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify."
  value       = local.alarm_topic_arn
}

output "compaction_schedule_name" {
  description = "EventBridge Scheduler schedule that starts the compaction runs (null when compaction is off)."
  value       = try(aws_scheduler_schedule.compaction[0].name, null)
}
