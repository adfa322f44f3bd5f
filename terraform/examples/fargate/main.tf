module "network" {
  source = "../../modules/network"
  count  = var.create_vpc ? 1 : 0

  name                = var.name
  enable_nat_gateway  = var.enable_nat_gateway
  nat_gateway_per_az  = var.nat_gateway_per_az
  interface_endpoints = var.interface_endpoints
}

locals {
  vpc_id             = var.create_vpc ? module.network[0].vpc_id : var.vpc_id
  public_subnet_ids  = var.create_vpc ? module.network[0].public_subnet_ids : var.public_subnet_ids
  private_subnet_ids = var.create_vpc ? module.network[0].private_subnet_ids : var.private_subnet_ids
}

module "ecr" {
  source = "../../modules/ecr"

  name         = var.name
  force_delete = var.ecr_force_delete
}

module "users_table" {
  source = "../../modules/dynamodb-table"

  name                = "${var.name}-users"
  deletion_protection = var.users_table_deletion_protection
}

module "ecs_service" {
  source = "../../modules/ecs-service"

  name               = var.name
  vpc_id             = local.vpc_id
  public_subnet_ids  = local.public_subnet_ids
  private_subnet_ids = local.private_subnet_ids

  repository_url   = module.ecr.repository_url
  repository_arn   = module.ecr.arn
  image_tag        = var.image_tag
  cpu_architecture = var.cpu_architecture
  # One collector configuration for local runs, CI and this stack.
  collector_config = file("${path.module}/../../../config/ecs.yaml")

  certificate_arn         = var.certificate_arn
  allow_insecure_http     = var.allow_insecure_http
  waf_enabled             = var.waf_enabled
  access_logs_enabled     = var.access_logs_enabled
  alb_deletion_protection = var.alb_deletion_protection
  access_logs_bucket      = var.access_logs_bucket

  trace_export            = var.trace_export
  deployment_environment  = var.deployment_environment
  environment             = var.app_environment
  users_table             = { name = module.users_table.name, arn = module.users_table.arn }
  database_url_secret_arn = var.database_url_secret_arn
  log_retention_in_days   = var.log_retention_in_days
  alarm_topic_arn         = var.alarm_topic_arn
}

module "github_oidc" {
  source = "../../modules/github-oidc"

  role_name          = "${var.name}-fargate-deploy"
  repository         = var.github_repository
  subject_prefix     = var.github_subject_prefix
  github_environment = var.github_environment
  branch             = var.github_environment == null ? var.github_branch : null
  oidc_provider_arn  = var.github_oidc_provider_arn

  policy_documents = [
    module.ecr.push_policy_json,
    module.ecs_service.deploy_policy_json,
  ]
}

# Account-wide, so off by default: direct export needs it, the collector's
# awsxray exporter does not.
module "transaction_search" {
  source = "../../modules/transaction-search"
  count  = var.transaction_search ? 1 : 0
}
