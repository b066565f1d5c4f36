# Glue Data Catalog database and table. Columns and partition keys come from the schema file the
# transform reads (no second column list). Partitions are the catalog's own, registered by the
# job (BatchCreatePartition) as it writes them: no partition projection, because compaction
# switches a partition to a new generation folder by changing its location in the catalog
# (UpdatePartition), and Athena ignores catalog partitions when projection is on.

resource "aws_glue_catalog_database" "this" {
  name        = local.database_name
  description = "loglake tables"
}

resource "aws_glue_catalog_table" "logs" {
  name          = local.table_name
  database_name = aws_glue_catalog_database.this.name
  description   = try(local.schema.description, "")
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    "classification"      = "parquet"
    "parquet.compression" = "ZSTD"
    "EXTERNAL"            = "TRUE"
  }

  dynamic "partition_keys" {
    for_each = local.schema.partition_keys
    content {
      name    = partition_keys.value.name
      type    = try(partition_keys.value.type, "string")
      comment = try(partition_keys.value.comment, "")
    }
  }

  storage_descriptor {
    location      = local.table_location
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      name                  = "parquet"
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters = {
        "serialization.format" = "1"
      }
    }

    dynamic "columns" {
      for_each = local.glue_columns
      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }
}

resource "aws_athena_workgroup" "this" {
  name        = var.name_prefix
  description = "loglake queries"

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = 107374182400 # 100 GiB

    result_configuration {
      output_location = "s3://${aws_s3_bucket.this["code"].id}/athena-results/"
      encryption_configuration {
        encryption_option = var.enable_kms ? "SSE_KMS" : "SSE_S3"
        kms_key_arn       = local.kms_key_arn
      }
    }
  }
}

locals {
  qualified_table = "\"${aws_glue_catalog_database.this.name}\".\"${aws_glue_catalog_table.logs.name}\""
  named_queries = {
    errors-per-service-per-hour = <<-SQL
      SELECT dt, hr, service, count(*) AS errors
      FROM ${local.qualified_table}
      WHERE dt >= date_format(current_date - interval '1' day, '%Y-%m-%d') AND level IN ('ERROR', 'FATAL')
      GROUP BY dt, hr, service
      ORDER BY dt DESC, hr DESC, errors DESC
    SQL
    p95-latency-per-service     = <<-SQL
      SELECT service, approx_percentile(latency_ms, 0.95) AS p95_ms, count(*) AS requests
      FROM ${local.qualified_table}
      WHERE dt = date_format(current_date, '%Y-%m-%d') AND latency_ms IS NOT NULL
      GROUP BY service
      ORDER BY p95_ms DESC
    SQL
    top-messages                = <<-SQL
      SELECT message, level, count(*) AS n
      FROM ${local.qualified_table}
      WHERE dt = date_format(current_date, '%Y-%m-%d')
      GROUP BY message, level
      ORDER BY n DESC
      LIMIT 50
    SQL
  }
}

resource "aws_athena_named_query" "this" {
  for_each = local.named_queries

  name      = "${var.name_prefix}-${each.key}"
  workgroup = aws_athena_workgroup.this.id
  database  = aws_glue_catalog_database.this.name
  query     = each.value
}
