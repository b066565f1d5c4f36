# Compaction (README "Compaction"): an EventBridge Scheduler schedule starts the Glue job in its
# compaction mode. StartJobRun's Arguments replace the job's defaults of the same name, so the
# run has the job's outputs, schema, catalog and ledger plus these. The driver lists the
# catalog's settled partitions with enough files (`loglake glue-task compact-plan`); each Spark
# task claims one partition in the ledger, writes its next generation folder and switches the
# partition's location with one UpdatePartition (`loglake glue-task compact`).

resource "aws_scheduler_schedule" "compaction" {
  #checkov:skip=CKV_AWS_297:The payload is the job name and the compaction options, nothing secret; EventBridge Scheduler encrypts it with an AWS owned key by default ("Encryption at rest in EventBridge Scheduler"), and a customer managed key would need the creator's and the role's grants in the key policy for no gain.
  count = var.compaction_enabled ? 1 : 0

  name                         = "${var.name_prefix}-compaction"
  description                  = "loglake: compact settled partitions (the Glue job's compaction mode)"
  schedule_expression          = var.compaction_schedule
  schedule_expression_timezone = "UTC"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    # The universal target: Scheduler calls glue:StartJobRun with `input` as its request.
    arn      = "arn:${local.partition}:scheduler:::aws-sdk:glue:startJobRun"
    role_arn = aws_iam_role.scheduler[0].arn
    input = jsonencode({
      JobName = aws_glue_job.transform.name
      Arguments = {
        "--LOGLAKE_MODE"                    = "compact"
        "--LOGLAKE_COMPACT_SETTLE_MINUTES"  = tostring(var.compaction_settle_minutes)
        "--LOGLAKE_COMPACT_MIN_FILES"       = tostring(var.compaction_min_files)
        "--LOGLAKE_COMPACT_TARGET_FILE_MIB" = tostring(var.compaction_target_file_mib)
        "--LOGLAKE_COMPACT_GRACE_MINUTES"   = tostring(var.compaction_grace_minutes)
      }
    })

    # A missed run is not retried: the next one compacts the same partitions.
    retry_policy {
      maximum_retry_attempts = 0
    }
  }
}

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  count = var.compaction_enabled ? 1 : 0

  name               = "${var.name_prefix}-compaction-schedule"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "StartCompaction"
    actions   = ["glue:StartJobRun"]
    resources = [local.glue_job_arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  count = var.compaction_enabled ? 1 : 0

  name   = "start-compaction"
  role   = aws_iam_role.scheduler[0].id
  policy = data.aws_iam_policy_document.scheduler.json
}
