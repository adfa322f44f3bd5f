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

  statement {
    sid       = "ReadCollectorConfig"
    actions   = ["ssm:GetParameters"]
    resources = [aws_ssm_parameter.collector_config.arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-log-config"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# Task role: what the containers themselves call. Only the collector calls AWS,
# to export spans to X-Ray, fetch X-Ray sampling rules and write metrics (EMF).
resource "aws_iam_role" "task" {
  name_prefix        = substr("${var.name}-task-", 0, 38)
  description        = "ECS task role of ${var.name} (ADOT collector to X-Ray)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "task" {
  # X-Ray defines no resource type for these actions: "*" is the only value IAM accepts.
  statement {
    sid = "XRayWrite"
    actions = [
      "xray:PutTelemetryRecords",
      "xray:PutTraceSegments",
    ]
    resources = ["*"]
  }

  statement {
    sid = "XRaySampling"
    actions = [
      "xray:GetSamplingRules",
      "xray:GetSamplingStatisticSummaries",
      "xray:GetSamplingTargets",
    ]
    resources = ["*"]
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
