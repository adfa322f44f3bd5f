data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  account_id    = data.aws_caller_identity.current.account_id
  partition     = data.aws_partition.current.partition
  region        = data.aws_region.current.region
  log_group_arn = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${var.name}"
  create_key    = var.kms_key_arn == null
}

resource "aws_cloudwatch_log_group" "this" {
  name              = var.name
  retention_in_days = var.retention_in_days
  kms_key_id        = local.create_key ? aws_kms_key.this[0].arn : var.kms_key_arn
  tags              = var.tags
}

# Without a caller-supplied key, each log group gets its own key whose policy
# lets CloudWatch Logs use it for this log group only.
resource "aws_kms_key" "this" {
  count = local.create_key ? 1 : 0

  description             = "CloudWatch Logs encryption for ${var.name}"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.key[0].json
  tags                    = var.tags
}

data "aws_iam_policy_document" "key" {
  count = local.create_key ? 1 : 0

  # Key administration stays with the account's IAM policies. The actions are
  # listed instead of kms:* so that the key policy holds no wildcard action.
  # In a key policy, "*" as the resource means "this key".
  #checkov:skip=CKV_AWS_356:a key policy's resource "*" is the key itself
  #checkov:skip=CKV_AWS_111:write actions limited to this key by the key policy
  #checkov:skip=CKV_AWS_109:key administration must remain possible for the account
  statement {
    sid = "AccountAdministration"
    actions = [
      "kms:CancelKeyDeletion",
      "kms:DescribeKey",
      "kms:DisableKeyRotation",
      "kms:EnableKeyRotation",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateKeyDescription",
    ]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogs"
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [local.log_group_arn]
    }
  }
}
