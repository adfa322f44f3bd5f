output "url" {
  description = "Function URL (of the alias)."
  value       = aws_lambda_function_url.this.function_url
}

output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "Unqualified ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "alias_name" {
  description = "Name of the alias behind the URL."
  value       = aws_lambda_alias.this.name
}

output "alias_arn" {
  description = "ARN of the alias."
  value       = aws_lambda_alias.this.arn
}

output "url_auth_type" {
  description = "Authorisation type of the function URL (AWS_IAM requests must be SigV4-signed)."
  value       = aws_lambda_function_url.this.authorization_type
}

output "role_arn" {
  description = "ARN of the execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "Log group of the function."
  value       = module.logs.name
}

output "adot_layer_arn" {
  description = "ADOT collector layer attached to the function."
  value       = local.adot_layer_arn
}

output "deploy_policy_json" {
  description = "IAM policy document with what a CI role needs to deploy new code to this function and smoke-test it."
  value       = data.aws_iam_policy_document.deploy.json
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the function."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Alarms that deploy-lambda.sh watches during a canary (pass them as --alarms): the version under test's failed and throttled invocations, the function's 5xx rate and p99 latency."
  value       = local.canary_alarms
}

output "version_alarm_names" {
  description = "Of alarm_names, those deploy-lambda.sh points at the version it publishes (pass them as --version-alarms)."
  value       = local.version_alarms
}

output "telemetry_alarm_names" {
  description = "Alarms that only notify alarm_topic_arn: telemetry the function lost (spans dropped, span or metric exports failed)."
  value       = [for k in sort(keys(local.telemetry_loss)) : aws_cloudwatch_metric_alarm.telemetry_loss[k].alarm_name]
}
