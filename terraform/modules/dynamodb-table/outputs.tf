output "name" {
  description = "Name of the table, for USERS_TABLE."
  value       = aws_dynamodb_table.this.name
}

output "arn" {
  description = "ARN of the table, for the IAM statements of the roles that use it."
  value       = aws_dynamodb_table.this.arn
}
