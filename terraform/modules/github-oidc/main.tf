locals {
  issuer      = "token.actions.githubusercontent.com"
  create      = var.oidc_provider_arn == null
  provider_id = local.create ? aws_iam_openid_connect_provider.github[0].arn : var.oidc_provider_arn
  # Only one workflow context may assume the role: a GitHub environment (which
  # can require reviewers) or one branch, never a pattern.
  subject = (var.github_environment != null
    ? "${var.subject_prefix}:${var.repository}:environment:${var.github_environment}"
    : "${var.subject_prefix}:${var.repository}:ref:refs/heads/${var.branch}"
  )
}

# An account holds one provider per issuer URL; the second stack reuses it
# through oidc_provider_arn. AWS trusts GitHub's certificate through its own
# root CAs, so no thumbprint is pinned.
resource "aws_iam_openid_connect_provider" "github" {
  count = local.create ? 1 : 0

  url            = "https://${local.issuer}"
  client_id_list = ["sts.amazonaws.com"]
  tags           = var.tags
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.provider_id]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = [local.subject]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.role_name
  description          = "Assumed by GitHub Actions (${local.subject}) to deploy"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration
  tags                 = var.tags
}

# The permissions come from the modules that own the resources (ecr,
# ecs-service, lambda-function), each scoped to its own ARNs.
data "aws_iam_policy_document" "deploy" {
  source_policy_documents = var.policy_documents
}

resource "aws_iam_role_policy" "deploy" {
  name   = "deploy"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.deploy.json
}
