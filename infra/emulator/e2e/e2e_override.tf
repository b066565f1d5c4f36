# End-to-end emulation only: the rules' Lambda targets deliver to the inbox queue
# (lambda_inbox.tf), which the e2e driver turns into invocations of the deployed `bootstrap`.
resource "aws_cloudwatch_event_target" "raw_to_lambda" {
  arn = aws_sqs_queue.e2e_lambda_inbox.arn
}

resource "aws_cloudwatch_event_target" "glue_state_to_lambda" {
  arn = aws_sqs_queue.e2e_lambda_inbox.arn
}

# moto's SQS would try to invoke the function itself for every message sent to the batch queue
# (and fail without Docker); the driver polls the queue as the event source mapping does, with
# the mapping's batch size.
resource "aws_lambda_event_source_mapping" "batch" {
  enabled = false
}
