output "variables" {
  description = "The environment as a map, for aws_lambda_function environment.variables."
  value       = local.variables
}

output "container_environment" {
  description = "The environment as a list of { name, value } sorted by name, for an ECS container definition."
  value       = [for k in sort(keys(local.variables)) : { name = k, value = local.variables[k] }]
}
