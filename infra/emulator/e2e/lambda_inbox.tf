# End-to-end emulation only (scripts/e2e.sh copies this next to the real configuration and the
# emulator overrides). moto cannot invoke a Lambda target (and a Lambda target stops delivery to
# the rule's other targets), so the rules that target the trigger Lambda deliver to this queue
# instead; the e2e driver reads it and invokes the deployed function's `bootstrap` with each
# event, as Lambda's asynchronous invocation would.
resource "aws_sqs_queue" "e2e_lambda_inbox" {
  name                      = "${var.name_prefix}-e2e-lambda-inbox"
  message_retention_seconds = 3600
  sqs_managed_sse_enabled   = true
}

output "e2e_lambda_inbox_url" {
  description = "Emulation only: the events EventBridge would have sent to the trigger Lambda."
  value       = aws_sqs_queue.e2e_lambda_inbox.id
}

output "e2e_batch_dlq_url" {
  description = "Emulation only: the batch queue's dead-letter queue (null in per-object mode)."
  value       = try(aws_sqs_queue.batch_dlq[0].id, null)
}
