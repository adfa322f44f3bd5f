# A Lambda Managed Instances capacity provider: EC2 instances in your VPC that
# Lambda manages, each execution environment serving many invocations at once.
data "aws_partition" "current" {}

data "aws_subnet" "each" {
  for_each = toset(var.subnet_ids)
  id       = each.value
}

# The role Lambda assumes to launch and manage the instances; AWS's managed
# policy for exactly that, nothing else.
data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "operator" {
  name               = "${var.name}-operator"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "operator" {
  role       = aws_iam_role.operator.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSLambdaManagedEC2ResourceOperator"
}

resource "aws_lambda_capacity_provider" "this" {
  name = var.name

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }

  permissions_config {
    capacity_provider_operator_role_arn = aws_iam_role.operator.arn
  }

  instance_requirements {
    architectures = [var.architecture]
  }

  capacity_provider_scaling_config {
    max_vcpu_count = var.max_vcpu_count
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = length(distinct([for s in data.aws_subnet.each : s.availability_zone])) >= 2
      error_message = "subnet_ids must span at least two availability zones."
    }
  }

  depends_on = [aws_iam_role_policy_attachment.operator]
}
