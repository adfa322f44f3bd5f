data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name_prefix        = substr("${var.function_name}-", 0, 38)
  description        = "Execution role of the ${var.function_name} Lambda function"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid = "WriteOwnLogs"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
    ]
    resources = ["${module.logs.arn}:log-stream:*"]
  }

  # Active tracing (Lambda's own function segment, the parent of the app's
  # spans) and the collector layer's X-Ray exporter. X-Ray defines no
  # resource type for any of its write actions (Service Authorization
  # Reference): "*" is the only value IAM accepts.
  statement {
    sid = "XRayWrite"
    actions = [
      "xray:PutTelemetryRecords",
      "xray:PutTraceSegments",
    ]
    resources = ["*"]
  }

  # Direct export to the X-Ray OTLP endpoint: PutSpans stores the spans,
  # PutSpansForIndexing lets Transaction Search index them.
  dynamic "statement" {
    for_each = local.direct ? [1] : []

    content {
      sid = "XRayOtlpSpans"
      actions = [
        "xray:PutSpans",
        "xray:PutSpansForIndexing",
      ]
      resources = ["*"]
    }
  }

  # The users table: exactly the calls the binary makes (GetItem, conditional
  # PutItem, and BatchWriteItem for seed-users), on this table only.
  dynamic "statement" {
    for_each = var.users_table == null ? [] : [var.users_table.arn]

    content {
      sid = "UsersTable"
      actions = [
        "dynamodb:BatchWriteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
      ]
      resources = [statement.value]
    }
  }

  # The database URL, read once at start-up (DATABASE_URL_SECRET_ARN); a
  # secret under the aws/secretsmanager key needs no kms:Decrypt grant.
  dynamic "statement" {
    for_each = var.database_url_secret_arn == null ? [] : [var.database_url_secret_arn]

    content {
      sid       = "ReadDatabaseUrl"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }

  # The events queue: the one call the binary makes, on this queue only.
  dynamic "statement" {
    for_each = var.events_queue == null ? [] : [var.events_queue.arn]

    content {
      sid       = "EventsQueue"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "logs-xray-write"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

# What the CI role needs to ship a new zip: upload it, publish a version, shift
# the alias to it while watching the alarms, read back the result, and (with
# AWS_IAM) call the URL as a smoke test.
data "aws_iam_policy_document" "deploy" {
  statement {
    sid = "DeployThisFunction"
    actions = [
      "lambda:GetAlias",
      "lambda:GetFunction",
      "lambda:GetFunctionConfiguration",
      "lambda:PublishVersion",
      "lambda:UpdateAlias",
      "lambda:UpdateFunctionCode",
    ]
    resources = [
      aws_lambda_function.this.arn,
      "${aws_lambda_function.this.arn}:*",
    ]
  }

  # The canary watches the alarms.
  statement {
    sid       = "WatchAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = [aws_cloudwatch_metric_alarm.version_errors.arn, aws_cloudwatch_metric_alarm.server_errors.arn, aws_cloudwatch_metric_alarm.latency.arn]
  }

  # ... and first points the per-version alarm at the version it publishes
  # (ExecutedVersion), resetting its state left by the previous version.
  statement {
    sid       = "RetargetVersionAlarm"
    actions   = ["cloudwatch:PutMetricAlarm", "cloudwatch:SetAlarmState"]
    resources = [aws_cloudwatch_metric_alarm.version_errors.arn]
  }

  dynamic "statement" {
    for_each = local.public_url ? [] : [1]

    content {
      sid       = "SmokeTestThroughUrl"
      actions   = ["lambda:InvokeFunctionUrl"]
      resources = [aws_lambda_function.this.arn, "${aws_lambda_function.this.arn}:${var.alias_name}"]

      condition {
        test     = "StringEquals"
        variable = "lambda:FunctionUrlAuthType"
        values   = ["AWS_IAM"]
      }
    }
  }
}
