# Both roles may only be assumed by ECS tasks of this account.
data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

# Execution role: what the ECS agent does before and around the containers
# (pull the image, write logs, read the collector configuration).
resource "aws_iam_role" "execution" {
  name_prefix        = substr("${var.name}-exec-", 0, 38)
  description        = "ECS task execution role of ${var.name}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PullAppImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [var.repository_arn]
  }

  statement {
    sid = "WriteContainerLogs"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
    ]
    resources = ["${module.logs.arn}:log-stream:*"]
  }

  dynamic "statement" {
    for_each = var.database_url_secret_arn == null ? [] : [var.database_url_secret_arn]

    content {
      sid       = "ReadDatabaseUrl"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = aws_ssm_parameter.collector_config

    content {
      sid       = "ReadCollectorConfig"
      actions   = ["ssm:GetParameters"]
      resources = [statement.value.arn]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-log-config"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# Task role: what the containers themselves call. With the sidecar the
# collector exports spans to X-Ray, fetches sampling rules and quotas for the
# app (awsproxy) and writes metrics (EMF); with direct export the app puts
# spans on the X-Ray OTLP endpoint and fetches its sampling rules itself; the
# app reads and writes its users table.
resource "aws_iam_role" "task" {
  name_prefix        = substr("${var.name}-task-", 0, 38)
  description        = "ECS task role of ${var.name} (spans to X-Ray, app to its table)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "task" {
  # X-Ray defines no resource type for any of these actions (Service
  # Authorization Reference): "*" is the only value IAM accepts.
  dynamic "statement" {
    for_each = local.collector ? [1] : []

    content {
      sid = "XRayWrite"
      actions = [
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
      ]
      resources = ["*"]
    }
  }

  # The app's xray sampler, through the awsproxy or straight to X-Ray: the
  # two calls it makes (no statistic summaries: nothing here reads them).
  dynamic "statement" {
    for_each = module.app_environment.variables["OTEL_TRACES_SAMPLER"] == "xray" ? [1] : []

    content {
      sid = "XRaySampling"
      actions = [
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
      ]
      resources = ["*"]
    }
  }

  # The X-Ray OTLP endpoint: PutSpans stores the spans, PutSpansForIndexing
  # lets Transaction Search index them.
  dynamic "statement" {
    for_each = local.collector ? [] : [1]

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

data "aws_iam_policy_document" "task_metrics" {
  statement {
    sid = "WriteMetricsEmf"
    actions = [
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
    ]
    resources = [module.metrics_logs.arn, "${module.metrics_logs.arn}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "task_metrics" {
  name   = "metrics-emf-write"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task_metrics.json
}

resource "aws_iam_role_policy" "task" {
  name   = "xray-write"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# What the CI role needs to roll out a new image: read the current task
# definition, register a revision, point the service at it, and pass the two
# roles above to ECS (and nothing else).
data "aws_iam_policy_document" "deploy" {
  # DescribeTaskDefinition and RegisterTaskDefinition define no resource type
  # in IAM, so they only accept "*".
  statement {
    sid = "TaskDefinitions"
    actions = [
      "ecs:DescribeTaskDefinition",
      "ecs:RegisterTaskDefinition",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "TagNewRevisions"
    actions   = ["ecs:TagResource"]
    resources = [local.task_definition_arn]

    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RegisterTaskDefinition"]
    }
  }

  statement {
    sid = "UpdateThisService"
    actions = [
      "ecs:DescribeServices",
      "ecs:UpdateService",
    ]
    resources = [local.service_arn]
  }

  statement {
    sid       = "PassTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.execution.arn, aws_iam_role.task.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}
