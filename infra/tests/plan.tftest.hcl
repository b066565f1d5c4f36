# Plan/apply-level assertions with a mocked AWS provider: no credentials, no network.
# `command = apply` lets the mock provider fill computed attributes (ARNs, ids) so the
# assertions can compare them; nothing is created anywhere.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
      arn        = "arn:aws:iam::123456789012:root"
      user_id    = "AIDAEXAMPLE"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = {
      arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/loglake-ledger"
    }
  }
  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    }
  }
  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:eu-west-1:123456789012:loglake-alarms"
    }
  }
  mock_resource "aws_lambda_function" {
    defaults = {
      arn = "arn:aws:lambda:eu-west-1:123456789012:function:loglake-s3-raw-start-glue"
    }
  }
  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:eu-west-1:123456789012:loglake-queue"
      url = "https://sqs.eu-west-1.amazonaws.com/123456789012/loglake-queue"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-1:123456789012:log-group:loglake"
    }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = {
      arn = "arn:aws:events:eu-west-1:123456789012:rule/loglake"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/loglake"
    }
  }
}

variables {
  lambda_zip_path  = "tests/fixtures/bootstrap.zip"
  glue_script_path = "tests/fixtures/entry.py"
  glue_binary_path = "tests/fixtures/loglake"
}

run "per_object_mode" {
  command = apply

  # Event rule: bucket, prefix AND suffix in one wildcard per suffix, size > 0.
  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.raw_object_created.event_pattern).detail.object.key == [
      for s in var.raw_suffixes : { wildcard = "raw/*${s}" }
    ]
    error_message = "each key filter must be one wildcard combining raw_prefix and a suffix"
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.raw_object_created.event_pattern).detail.object.size == [{ numeric = [">", 0] }]
    error_message = "zero-byte objects must be filtered out"
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.raw_object_created.event_pattern).detail.bucket.name == [aws_s3_bucket.this["raw"].id]
    error_message = "the rule must match the raw bucket only"
  }
  assert {
    condition     = aws_s3_bucket.this["raw"].bucket == "loglake-raw-123456789012-eu-west-1"
    error_message = "bucket names are prefix-purpose-account-region"
  }
  assert {
    condition     = aws_s3_bucket_notification.raw.eventbridge
    error_message = "EventBridge notifications must be on for the raw bucket"
  }

  # Per-object mode: the rule targets the Lambda, with retries and a DLQ; no batch queue.
  assert {
    condition     = length(aws_cloudwatch_event_target.raw_to_lambda) == 1 && length(aws_sqs_queue.batch) == 0
    error_message = "per-object mode targets the Lambda directly"
  }
  assert {
    condition     = aws_cloudwatch_event_target.raw_to_lambda[0].dead_letter_config[0].arn == aws_sqs_queue.events_dlq.arn
    error_message = "the rule target needs a dead-letter queue"
  }
  assert {
    condition     = aws_lambda_permission.raw_rule[0].source_arn == aws_cloudwatch_event_rule.raw_object_created.arn
    error_message = "the Lambda permission must be scoped to the rule"
  }

  # Lambda.
  assert {
    condition     = aws_lambda_function.trigger.runtime == "provided.al2023" && aws_lambda_function.trigger.handler == "bootstrap"
    error_message = "the trigger runs a Rust bootstrap on provided.al2023"
  }
  assert {
    condition     = aws_lambda_function.trigger.function_name == "loglake-s3-raw-start-glue"
    error_message = "the trigger is named <prefix>-s3-raw-start-glue"
  }
  assert {
    condition     = aws_lambda_function.trigger.tracing_config[0].mode == "Active"
    error_message = "tracing must be on"
  }
  assert {
    condition     = aws_lambda_function.trigger.environment[0].variables["LOGLAKE_LEDGER_TABLE"] == "loglake-ledger" && aws_lambda_function.trigger.environment[0].variables["LOGLAKE_GLUE_JOB"] == "loglake-transform"
    error_message = "the trigger is configured by LOGLAKE_* variables"
  }

  # Ledger.
  assert {
    condition     = aws_dynamodb_table.ledger.billing_mode == "PAY_PER_REQUEST" && aws_dynamodb_table.ledger.hash_key == "id"
    error_message = "the ledger is on-demand with the string hash key id"
  }
  assert {
    condition     = aws_dynamodb_table.ledger.ttl[0].attribute_name == "expires_at" && aws_dynamodb_table.ledger.point_in_time_recovery[0].enabled
    error_message = "the ledger needs TTL on expires_at and PITR"
  }

  # IAM: exact resources; "*" only where AWS has no resource-level permissions.
  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.trigger.statement : !contains(s.resources, "*") || s.sid == "XRay"
    ])
    error_message = "the trigger policy may use \"*\" only for X-Ray"
  }
  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.glue.statement : !contains(s.resources, "*") || s.sid == "JobMetrics"
    ])
    error_message = "the Glue policy may use \"*\" only for PutMetricData (namespace-scoped)"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.trigger.statement : s.resources if s.sid == "Ledger"]) == toset([aws_dynamodb_table.ledger.arn])
    error_message = "the trigger may only touch the ledger table"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.trigger.statement : s.resources if s.sid == "HeadRawObjects"]) == toset(["${aws_s3_bucket.this["raw"].arn}/raw/*"])
    error_message = "the trigger reads raw objects under raw_prefix only"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.trigger.statement : s.resources if s.sid == "StartGlueRuns"]) == toset(["arn:aws:glue:eu-west-1:123456789012:job/loglake-transform"])
    error_message = "the trigger may start only the transform job"
  }
  assert {
    condition = one([for s in data.aws_iam_policy_document.glue.statement : s.resources if s.sid == "WriteClean"]) == toset([
      "${aws_s3_bucket.this["clean"].arn}/clean/*", "${aws_s3_bucket.this["clean"].arn}/quarantine/*"
    ])
    error_message = "the Glue job writes only clean/ and quarantine/ of the clean bucket"
  }

  # Catalog: columns are the schema file's, plus the catch-all column.
  assert {
    condition = [for c in aws_glue_catalog_table.logs.storage_descriptor[0].columns : c.name] == concat(
      [for c in jsondecode(file("../schemas/app_logs.json")).columns : c.name], ["attributes"]
    )
    error_message = "Glue columns must be the schema file's columns in order, then attributes"
  }
  assert {
    condition = [for c in aws_glue_catalog_table.logs.storage_descriptor[0].columns : c.type] == concat(
      [for c in jsondecode(file("../schemas/app_logs.json")).columns : c.type], ["string"]
    )
    error_message = "Glue column types must be the schema file's types"
  }
  assert {
    condition     = [for k in aws_glue_catalog_table.logs.partition_keys : k.name] == ["dt", "hr"]
    error_message = "partition keys are dt, hr"
  }
  assert {
    condition     = aws_glue_catalog_table.logs.storage_descriptor[0].ser_de_info[0].serialization_library == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    error_message = "the table is Parquet"
  }
  # Partitions come from the catalog (compaction switches their locations): no projection,
  # which would make Athena ignore them.
  assert {
    condition = (
      length([for k in keys(aws_glue_catalog_table.logs.parameters) : k if startswith(k, "projection.")]) == 0 &&
      !contains(keys(aws_glue_catalog_table.logs.parameters), "storage.location.template")
    )
    error_message = "the table must read partitions from the catalog, without partition projection"
  }

  # Compaction: a schedule starting the Glue job in its compaction mode, with the variables.
  assert {
    condition = (
      aws_scheduler_schedule.compaction[0].schedule_expression == "rate(1 hour)" &&
      aws_scheduler_schedule.compaction[0].target[0].arn == "arn:aws:scheduler:::aws-sdk:glue:startJobRun" &&
      aws_scheduler_schedule.compaction[0].target[0].role_arn == aws_iam_role.scheduler[0].arn
    )
    error_message = "the compaction schedule calls glue:StartJobRun hourly with its own role"
  }
  assert {
    condition = jsondecode(aws_scheduler_schedule.compaction[0].target[0].input) == {
      JobName = "loglake-transform"
      Arguments = {
        "--LOGLAKE_MODE"                    = "compact"
        "--LOGLAKE_COMPACT_SETTLE_MINUTES"  = "60"
        "--LOGLAKE_COMPACT_MIN_FILES"       = "8"
        "--LOGLAKE_COMPACT_TARGET_FILE_MIB" = "128"
        "--LOGLAKE_COMPACT_GRACE_MINUTES"   = "60"
      }
    }
    error_message = "the schedule starts the transform job in compaction mode with the variables' values"
  }
  assert {
    condition     = contains(flatten([for st in data.aws_iam_policy_document.glue.statement : st.actions]), "glue:UpdatePartition")
    error_message = "the Glue role may switch a partition's location"
  }
  assert {
    condition = anytrue([
      for st in data.aws_iam_policy_document.glue.statement :
      st.actions == toset(["glue:GetJobRun"]) && st.resources == toset(["arn:aws:glue:eu-west-1:123456789012:job/loglake-transform"])
    ])
    error_message = "the Glue role may read its own job's runs (to take over a dead run's claim), nothing more"
  }
  assert {
    condition = (
      flatten([for st in data.aws_iam_policy_document.scheduler.statement : st.actions]) == ["glue:StartJobRun"] &&
      flatten([for st in data.aws_iam_policy_document.scheduler.statement : st.resources]) == ["arn:aws:glue:eu-west-1:123456789012:job/loglake-transform"]
    )
    error_message = "the schedule's role may start the transform job and nothing else"
  }

  # Glue job.
  assert {
    condition     = aws_glue_job.transform.glue_version == "5.0" && aws_glue_job.transform.command[0].name == "glueetl"
    error_message = "the transform is a Glue 5.0 Spark job"
  }
  assert {
    condition     = aws_glue_job.transform.execution_property[0].max_concurrent_runs == 10 && aws_glue_job.transform.job_run_queuing_enabled
    error_message = "max concurrent runs and job-run queuing must be set"
  }
  assert {
    condition     = aws_glue_job.transform.default_arguments["--extra-files"] == "s3://${aws_s3_bucket.this["code"].id}/artifacts/loglake"
    error_message = "the loglake binary ships with --extra-files"
  }

  # Alarms: the expected set, all notifying the topic.
  assert {
    condition = keys(aws_cloudwatch_metric_alarm.this) == [
      "events-dlq-not-empty", "glue-failures", "glue-stuck", "lambda-errors", "lambda-throttles", "trigger-dlq-not-empty"
    ]
    error_message = "per-object mode alarms on Lambda errors and throttles, both DLQs, Glue failures and stuck runs"
  }
  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.this : a.alarm_actions == toset([aws_sns_topic.alarms[0].arn])])
    error_message = "every alarm must notify the alarm topic"
  }
}

# AWS fidelity (docs/aws-contracts.md): what the first deploy on AWS needs that moto never checks.
run "aws_contracts" {
  command = apply

  # Glue 5.0 logs to <--custom-logGroup-prefix>/error and /output; the 4.0 options are gone.
  assert {
    condition = (
      aws_glue_job.transform.default_arguments["--custom-logGroup-prefix"] == "/aws-glue/jobs/loglake-transform" &&
      !contains(keys(aws_glue_job.transform.default_arguments), "--enable-continuous-cloudwatch-log") &&
      !contains(keys(aws_glue_job.transform.default_arguments), "--continuous-log-logGroup")
    )
    error_message = "the Glue 5.0 job logs through --custom-logGroup-prefix, not the 4.0 continuous-logging options"
  }
  assert {
    condition = (
      toset([for g in aws_cloudwatch_log_group.glue : g.name]) == toset(["/aws-glue/jobs/loglake-transform/error", "/aws-glue/jobs/loglake-transform/output"]) &&
      alltrue([for g in aws_cloudwatch_log_group.glue : g.retention_in_days == var.log_retention_days && g.kms_key_id == aws_kms_key.this[0].arn])
    )
    error_message = "both Glue 5.0 log groups are created here, with retention and the key"
  }
  assert {
    condition     = one(one(aws_glue_security_configuration.this.encryption_configuration).cloudwatch_encryption).cloudwatch_encryption_mode == "DISABLED"
    error_message = "CloudWatch encryption in the security configuration would move the logs to groups Glue names itself"
  }
  assert {
    condition     = aws_glue_job.transform.default_arguments["--LOGLAKE_REGION"] == "eu-west-1"
    error_message = "the job passes its region to the loglake subprocesses"
  }
  # Athena reads catalog partitions only when projection is off (A1): every registered
  # partition, whatever its dt, at the location the catalog names (A6).
  assert {
    condition     = !contains(keys(aws_glue_catalog_table.logs.parameters), "projection.enabled")
    error_message = "partition projection would hide compacted partitions' catalog locations"
  }
  # No reservation by default (it must leave 100 unreserved in the account).
  assert {
    # null in the plan, -1 (unreserved) once AWS answers.
    condition     = coalesce(aws_lambda_function.trigger.reserved_concurrent_executions, -1) == -1
    error_message = "the trigger reserves no concurrency by default"
  }
  # The documented key policy for AWS services sending to encrypted queues and topics.
  assert {
    condition = anytrue([
      for st in data.aws_iam_policy_document.kms[0].statement :
      contains(flatten([for p in st.principals : p.identifiers]), "events.amazonaws.com") &&
      length(st.condition) == 0 && contains(st.actions, "kms:GenerateDataKey*") && contains(st.actions, "kms:Decrypt")
    ])
    error_message = "events.amazonaws.com gets kms:GenerateDataKey* and kms:Decrypt without conditions, as the SQS guide documents"
  }
  # HeadObject of a missing key is a 404 only with an unconditioned s3:ListBucket.
  assert {
    condition = anytrue([
      for st in data.aws_iam_policy_document.trigger.statement :
      st.actions == toset(["s3:ListBucket"]) && st.resources == toset([aws_s3_bucket.this["raw"].arn]) && length(st.condition) == 0
    ])
    error_message = "the trigger role has s3:ListBucket on the raw bucket without a prefix condition"
  }
}

run "batching_mode" {
  command = apply

  variables {
    batching_enabled     = true
    batch_window_seconds = 30
    batch_size           = 50
  }

  assert {
    condition     = length(aws_cloudwatch_event_target.raw_to_lambda) == 0 && aws_cloudwatch_event_target.raw_to_queue[0].arn == aws_sqs_queue.batch[0].arn
    error_message = "batching mode routes events to the queue"
  }
  assert {
    condition = (
      aws_lambda_event_source_mapping.batch[0].maximum_batching_window_in_seconds == 30 &&
      aws_lambda_event_source_mapping.batch[0].batch_size == 50 &&
      contains(aws_lambda_event_source_mapping.batch[0].function_response_types, "ReportBatchItemFailures")
    )
    error_message = "the queue feeds the Lambda with the batch window and partial batch failures"
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.batch[0].redrive_policy).deadLetterTargetArn == aws_sqs_queue.batch_dlq[0].arn
    error_message = "the batch queue needs a DLQ"
  }
  assert {
    condition     = contains(keys(aws_cloudwatch_metric_alarm.this), "batch-dlq-not-empty")
    error_message = "batching mode also watches the batch DLQ"
  }
  assert {
    condition     = aws_lambda_function.trigger.environment[0].variables["LOGLAKE_MODE"] == "batch"
    error_message = "the trigger is told it runs in batch mode"
  }
  assert {
    condition     = one(aws_lambda_event_source_mapping.batch[0].scaling_config).maximum_concurrency == var.batch_maximum_concurrency
    error_message = "the event source mapping bounds its own concurrency (it ignores reserved concurrency)"
  }
}

run "kms_off_uses_aws_managed_encryption" {
  command = apply

  variables {
    enable_kms = false
  }

  assert {
    condition     = length(aws_kms_key.this) == 0
    error_message = "no customer key when enable_kms is false"
  }
  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.this["raw"].rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "buckets fall back to SSE-S3"
  }
  assert {
    condition     = aws_sns_topic.alarms[0].kms_master_key_id == null
    error_message = "CloudWatch alarms cannot publish to a topic encrypted with alias/aws/sns"
  }
}

run "compaction_off" {
  command = plan
  variables {
    compaction_enabled = false
  }
  assert {
    condition     = length(aws_scheduler_schedule.compaction) == 0 && length(aws_iam_role.scheduler) == 0
    error_message = "compaction_enabled = false creates no schedule and no role"
  }
}

run "rejects_bad_compaction_schedule" {
  command = plan
  variables {
    compaction_schedule = "every hour"
  }
  expect_failures = [var.compaction_schedule]
}

run "rejects_a_grace_shorter_than_a_query" {
  command = plan
  variables {
    compaction_grace_minutes = 5
  }
  expect_failures = [var.compaction_grace_minutes]
}

run "rejects_compacting_single_files" {
  command = plan
  variables {
    compaction_min_files = 1
  }
  expect_failures = [var.compaction_min_files]
}

run "rejects_streaming_worker_type" {
  command = plan
  variables {
    glue_worker_type = "G.025X"
  }
  expect_failures = [var.glue_worker_type]
}

run "rejects_batch_over_ten_without_a_window" {
  command = plan
  variables {
    batching_enabled     = true
    batch_size           = 50
    batch_window_seconds = 0
  }
  expect_failures = [var.batch_size]
}

run "rejects_a_reservation_below_the_mapping_concurrency" {
  command = plan
  variables {
    batching_enabled            = true
    batch_maximum_concurrency   = 5
    lambda_reserved_concurrency = 3
  }
  expect_failures = [var.lambda_reserved_concurrency]
}

run "accepts_a_reservation" {
  command = apply
  variables {
    lambda_reserved_concurrency = 20
  }
  assert {
    condition     = aws_lambda_function.trigger.reserved_concurrent_executions == 20
    error_message = "a reservation, when asked for, is applied"
  }
}

run "rejects_bad_name_prefix" {
  command = plan
  variables {
    name_prefix = "Bad_Prefix"
  }
  expect_failures = [var.name_prefix]
}

run "rejects_prefix_without_slash" {
  command = plan
  variables {
    raw_prefix = "raw"
  }
  expect_failures = [var.raw_prefix]
}

run "rejects_bad_suffix" {
  command = plan
  variables {
    raw_suffixes = ["json"]
  }
  expect_failures = [var.raw_suffixes]
}

run "rejects_unsupported_retention" {
  command = plan
  variables {
    log_retention_days = 42
  }
  expect_failures = [var.log_retention_days]
}

run "rejects_unknown_worker_type" {
  command = plan
  variables {
    glue_worker_type = "G.3X"
  }
  expect_failures = [var.glue_worker_type]
}

run "rejects_batch_window_over_limit" {
  command = plan
  variables {
    batch_window_seconds = 301
  }
  expect_failures = [var.batch_window_seconds]
}

run "rejects_bad_alarm_email" {
  command = plan
  variables {
    alarm_email = "not-an-address"
  }
  expect_failures = [var.alarm_email]
}

# A column added to the schema file (README, "Schema changes"): the table gains it, keeps its
# name, location and partition keys. scripts/tf-emulator.sh checks on a real plan that nothing
# else changes and that the table is updated in place, not replaced.
run "schema_v1" {
  command = apply

  variables {
    schema_path = "tests/fixtures/schema-v1.json"
  }

  assert {
    condition     = [for c in aws_glue_catalog_table.logs.storage_descriptor[0].columns : c.name] == ["ts", "level", "attributes"]
    error_message = "v1 columns"
  }
}

run "schema_v2_adds_a_column" {
  command = apply

  variables {
    schema_path = "tests/fixtures/schema-v2.json"
  }

  assert {
    condition     = [for c in aws_glue_catalog_table.logs.storage_descriptor[0].columns : c.name] == ["ts", "level", "region", "attributes"]
    error_message = "the added column is in the table, the others unchanged and in order"
  }
  assert {
    condition = (output.glue_table == run.schema_v1.glue_table
      && endswith(aws_glue_catalog_table.logs.storage_descriptor[0].location, "/clean/evolving_logs")
    && [for k in aws_glue_catalog_table.logs.partition_keys : k.name] == ["dt", "hr"])
    error_message = "same table, location and partition keys"
  }
}
