locals {
  # Relative paths are relative to this directory, so the default finds the
  # zip cargo lambda writes under the repository's target/.
  package_path = startswith(var.package_path, "/") ? var.package_path : "${path.module}/${var.package_path}"
}

module "users_table" {
  source = "../../modules/dynamodb-table"

  name                = "${var.function_name}-users"
  deletion_protection = var.users_table_deletion_protection
}

module "lambda_function" {
  source = "../../modules/lambda-function"

  function_name  = var.function_name
  package_path   = local.package_path
  architecture   = var.architecture
  adot_layer_arn = var.adot_layer_arn
  memory_size    = var.memory_size
  timeout        = var.timeout
  url_auth_type  = var.url_auth_type

  allow_public_url               = var.allow_public_url
  reserved_concurrent_executions = var.reserved_concurrent_executions

  trace_export            = var.trace_export
  managed_instances       = var.capacity_provider_arn == null ? null : { capacity_provider_arn = var.capacity_provider_arn }
  deployment_environment  = var.deployment_environment
  environment             = var.app_environment
  users_table             = { name = module.users_table.name, arn = module.users_table.arn }
  database_url_secret_arn = var.database_url_secret_arn
  log_retention_in_days   = var.log_retention_in_days
  alarm_topic_arn         = var.alarm_topic_arn
}

module "github_oidc" {
  source = "../../modules/github-oidc"

  role_name          = "${var.function_name}-lambda-deploy"
  repository         = var.github_repository
  subject_prefix     = var.github_subject_prefix
  github_environment = var.github_environment
  branch             = var.github_environment == null ? var.github_branch : null
  oidc_provider_arn  = var.github_oidc_provider_arn

  policy_documents = [module.lambda_function.deploy_policy_json]
}

# Account-wide, so off by default: direct export needs it, the collector's
# awsxray exporter does not.
module "transaction_search" {
  source = "../../modules/transaction-search"
  count  = var.transaction_search ? 1 : 0
}
