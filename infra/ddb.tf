# The idempotency ledger: one item per raw object version (DESIGN.md section 4). Key `id` =
# "s3://bucket/key#<version-id or etag>"; `status` IN_PROGRESS | STARTED | SUCCEEDED | FAILED.
resource "aws_dynamodb_table" "ledger" {
  name                        = local.ledger_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = true

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.kms_key_arn
  }
}
