output "url" {
  description = "Function URL to curl. With AWS_IAM, sign the request, e.g. curl --aws-sigv4 \"aws:amz:<region>:lambda\" --user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\" -H \"x-amz-security-token: $AWS_SESSION_TOKEN\" \"$(terraform output -raw url)health\"."
  value       = module.lambda_function.url
}

output "url_auth_type" {
  description = "AWS_IAM or NONE; with AWS_IAM requests must be SigV4-signed."
  value       = module.lambda_function.url_auth_type
}

output "region" {
  description = "Region of the stack."
  value       = var.region
}

output "function_name" {
  description = "Function name, for the deploy."
  value       = module.lambda_function.function_name
}

output "alias_name" {
  description = "Alias the deploy moves and the URL serves."
  value       = module.lambda_function.alias_name
}

output "alias_arn" {
  description = "ARN of the alias."
  value       = module.lambda_function.alias_arn
}

output "adot_layer_arn" {
  description = "ADOT collector layer in use."
  value       = module.lambda_function.adot_layer_arn
}

output "deploy_role_arn" {
  description = "Role for GitHub Actions (configure-aws-credentials role-to-assume)."
  value       = module.github_oidc.role_arn
}

output "github_oidc_provider_arn" {
  description = "GitHub OIDC provider ARN; pass it to the fargate example as github_oidc_provider_arn."
  value       = module.github_oidc.oidc_provider_arn
}

output "log_group_name" {
  description = "Log group of the function."
  value       = module.lambda_function.log_group_name
}

output "github_actions_variables" {
  description = "Repository variables read by .github/workflows/deploy.yml for the lambda target."
  value = {
    AWS_REGION                    = var.region
    AWS_LAMBDA_DEPLOY_ROLE_ARN    = module.github_oidc.role_arn
    LAMBDA_FUNCTION               = module.lambda_function.function_name
    LAMBDA_ALIAS                  = module.lambda_function.alias_name
    LAMBDA_ARCH                   = var.architecture
    LAMBDA_FUNCTION_URL           = module.lambda_function.url
    LAMBDA_FUNCTION_URL_AUTH_TYPE = module.lambda_function.url_auth_type
    LAMBDA_ALARMS                 = join(",", module.lambda_function.alarm_names)
    LAMBDA_VERSION_ALARMS         = join(",", module.lambda_function.version_alarm_names)
  }
}

output "users_table" {
  description = "DynamoDB table the users live in; fill it with `axum-xray-otel seed-users --count 100` (USERS_TABLE set to this)."
  value       = module.users_table.name
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the service."
  value       = module.lambda_function.dashboard_name
}
