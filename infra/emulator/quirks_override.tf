# Emulator only: moto quirks (DESIGN.md section 7). Each override says what moto does differently;
# the production files are unchanged.

# moto grants S3 access-log delivery only through the target bucket's ACL (log-delivery group),
# not through the bucket policy AWS recommends when ACLs are disabled, so PutBucketLogging is
# retried until timeout. Access logging is left out of the emulated deployment.
resource "aws_s3_bucket_logging" "this" {
  for_each = {}
}

# moto keeps answering GetNamedQuery after DeleteNamedQuery, so destroy waits for ever on the
# Athena named queries. They are left out of the emulated deployment.
resource "aws_athena_named_query" "this" {
  for_each = {}
}

# The cycle ends with destroy; the production ledger refuses deletion.
resource "aws_dynamodb_table" "ledger" {
  deletion_protection_enabled = false
}

# Attributes moto stores but does not read back as AWS does; without these the post-apply plan
# would show a change that is not one.
resource "aws_glue_job" "transform" {
  lifecycle {
    # moto reports execution_class STANDARD and does not keep job_run_queuing_enabled.
    ignore_changes = [execution_class, job_run_queuing_enabled]
  }
}

resource "aws_lambda_function" "trigger" {
  lifecycle {
    # moto does not return the DLQ and logging configuration of a function.
    ignore_changes = [dead_letter_config, logging_config]
  }
}

resource "aws_s3_bucket_notification" "raw" {
  lifecycle {
    # moto does not return the EventBridge flag of a bucket notification.
    ignore_changes = [eventbridge]
  }
}

resource "aws_sqs_queue" "batch" {
  lifecycle {
    # moto returns the redrive policy JSON formatted differently; the pending "change" would
    # also defer every policy document that names the queue.
    ignore_changes = [redrive_policy]
  }
}
