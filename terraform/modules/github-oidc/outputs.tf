output "role_arn" {
  description = "ARN of the deploy role, for aws-actions/configure-aws-credentials role-to-assume."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the deploy role."
  value       = aws_iam_role.this.name
}

output "oidc_provider_arn" {
  description = "ARN of the GitHub OIDC provider (created or reused); pass it to the other stack."
  value       = local.provider_id
}

output "subject" {
  description = "The only sub claim the role trusts."
  value       = local.subject
}
