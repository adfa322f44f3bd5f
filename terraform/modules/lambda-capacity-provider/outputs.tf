output "arn" {
  description = "ARN of the capacity provider, for the lambda-function module's managed_instances."
  value       = aws_lambda_capacity_provider.this.arn
}

output "operator_role_arn" {
  description = "Role Lambda assumes to manage the instances."
  value       = aws_iam_role.operator.arn
}
