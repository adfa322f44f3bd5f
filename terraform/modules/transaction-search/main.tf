# X-Ray Transaction Search for the account and region: spans sent to X-Ray
# (the OTLP endpoint, or segments from the collector) are stored as structured
# logs in the aws/spans log group, and a share of them indexed as trace
# summaries. The X-Ray OTLP endpoint refuses spans until this is on.
data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id
  log_group  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group"
}

# X-Ray writes the spans into CloudWatch Logs on the account's behalf; only
# X-Ray of this account and region, only into its two log groups.
data "aws_iam_policy_document" "xray_to_logs" {
  statement {
    sid     = "TransactionSearchXRayAccess"
    actions = ["logs:PutLogEvents"]
    resources = [
      "${local.log_group}:aws/spans:*",
      "${local.log_group}:/aws/application-signals/data:*",
    ]

    principals {
      type        = "Service"
      identifiers = ["xray.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:xray:${local.region}:${local.account_id}:*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_cloudwatch_log_resource_policy" "this" {
  policy_name     = var.policy_name
  policy_document = data.aws_iam_policy_document.xray_to_logs.json
}

resource "aws_xray_trace_segment_destination" "this" {
  destination = "CloudWatchLogs"

  depends_on = [aws_cloudwatch_log_resource_policy.this]
}

# The Default rule decides which share of the ingested spans become trace
# summaries (1% is free; see README.md).
resource "aws_xray_indexing_rule" "this" {
  name = "Default"

  rule {
    probabilistic {
      desired_sampling_percentage = var.indexing_percentage
    }
  }

  depends_on = [aws_xray_trace_segment_destination.this]
}
