# ALB access logs (optional): a bucket of the module's own, or access_logs_bucket.
# The ALB writes with SSE-S3 only (it cannot use a KMS key); the ELB log
# delivery may put objects under this load balancer's prefix and nothing else.

locals {
  own_access_logs     = var.access_logs_enabled && var.access_logs_bucket == null
  access_logs_bucket  = local.own_access_logs ? aws_s3_bucket.access_logs[0].id : var.access_logs_bucket
  access_logs_prefix  = coalesce(var.access_logs_prefix, var.name)
  access_logs_objects = "arn:${local.partition}:s3:::${coalesce(local.access_logs_bucket, "-")}/${local.access_logs_prefix}/AWSLogs/${local.account_id}/*"
}

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_145:ALB access logs support SSE-S3 only; a KMS key is refused by the log delivery
  #checkov:skip=CKV_AWS_144:access logs are a per-region audit trail; replicating them is the owner's choice
  #checkov:skip=CKV_AWS_18:logging the access-log bucket's own accesses would need another bucket, and so on
  #checkov:skip=CKV2_AWS_62:nothing consumes events of new log objects
  count = local.own_access_logs ? 1 : 0

  bucket_prefix = substr("${var.name}-alb-logs-", 0, 37)
  force_destroy = false
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  count = local.own_access_logs ? 1 : 0

  bucket                  = aws_s3_bucket.access_logs[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  count = local.own_access_logs ? 1 : 0

  bucket = aws_s3_bucket.access_logs[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  count = local.own_access_logs ? 1 : 0

  bucket = aws_s3_bucket.access_logs[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  count = local.own_access_logs ? 1 : 0

  bucket = aws_s3_bucket.access_logs[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  count = local.own_access_logs ? 1 : 0

  bucket = aws_s3_bucket.access_logs[0].id

  rule {
    id     = "expire"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_logs_retention_in_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# Regions older than August 2022 deliver from an ELB account of the region;
# newer ones from the log delivery service. Both may only put objects under
# this load balancer's prefix for this account; nobody else gets anything from
# the bucket policy (readers need IAM permissions of their own).
data "aws_elb_service_account" "this" {
  count = local.own_access_logs ? 1 : 0
}

data "aws_iam_policy_document" "access_logs" {
  count = local.own_access_logs ? 1 : 0

  statement {
    sid       = "ElbLogDeliveryAccount"
    actions   = ["s3:PutObject"]
    resources = [local.access_logs_objects]

    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.this[0].arn]
    }
  }

  statement {
    sid       = "ElbLogDeliveryService"
    actions   = ["s3:PutObject"]
    resources = [local.access_logs_objects]

    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  count = local.own_access_logs ? 1 : 0

  bucket = aws_s3_bucket.access_logs[0].id
  policy = data.aws_iam_policy_document.access_logs[0].json

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}
