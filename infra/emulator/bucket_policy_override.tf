# Emulator only. moto applies the bucket policy's Deny without evaluating its condition, so the
# production statement that denies requests without TLS refuses every object call there. The
# emulated buckets get a harmless account-only policy instead (the production policy document is
# still built and validated by `terraform test` and checkov).
resource "aws_s3_bucket_policy" "this" {
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EmulatorAccountOnly"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      Action    = "s3:GetBucketLocation"
      Resource  = aws_s3_bucket.this[each.key].arn
    }]
  })
}
