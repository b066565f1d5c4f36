data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  tags = merge({ Project = "loglake", ManagedBy = "terraform" }, var.tags)

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Bucket names are global: the account and region make them unique per deployment.
  bucket_suffix = "${local.account_id}-${var.region}"
  bucket_names = {
    raw   = "${var.name_prefix}-raw-${local.bucket_suffix}"
    clean = "${var.name_prefix}-clean-${local.bucket_suffix}"
    code  = "${var.name_prefix}-code-${local.bucket_suffix}"
    logs  = "${var.name_prefix}-logs-${local.bucket_suffix}"
  }

  function_name  = "${var.name_prefix}-s3-raw-start-glue"
  lambda_timeout = 60
  glue_job_name  = "${var.name_prefix}-transform"
  # --custom-logGroup-prefix: the job logs to "<this>/error" and "<this>/output".
  glue_log_group_prefix = "/aws-glue/jobs/${var.name_prefix}-transform"
  ledger_name           = "${var.name_prefix}-ledger"
  database_name         = replace(var.name_prefix, "-", "_")

  # Artifacts built outside Terraform (scripts/package.sh) and the schema shared with the
  # transform (DESIGN.md invariant 5: one schema, one place).
  lambda_zip_path  = coalesce(var.lambda_zip_path, "${path.module}/../build/trigger_glue.zip")
  glue_script_path = coalesce(var.glue_script_path, "${path.module}/../glue/loglake_glue_job.py")
  glue_binary_path = coalesce(var.glue_binary_path, "${path.module}/../build/loglake")
  schema_path      = coalesce(var.schema_path, "${path.module}/../schemas/app_logs.json")

  schema     = jsondecode(file(local.schema_path))
  table_name = local.schema.table
  # Columns that feed an extra partition key live in the path, not in the Parquet files.
  partition_sources = [for k in local.schema.partition_keys : k.source if try(k.source, null) != null]
  glue_columns = concat(
    [for c in local.schema.columns : {
      name    = c.name
      type    = c.type
      comment = try(c.comment, "")
    } if !contains(local.partition_sources, c.name)],
    [{
      name    = local.schema.attributes_column
      type    = "string"
      comment = "Fields not in the schema, as one JSON object"
    }]
  )

  table_location = "s3://${local.bucket_names.clean}/clean/${local.table_name}"

  kms_key_arn = var.enable_kms ? aws_kms_key.this[0].arn : null
}
