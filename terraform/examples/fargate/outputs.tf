output "url" {
  description = "URL to curl, e.g. curl \"$(terraform output -raw url)/health\"."
  value       = module.ecs_service.url
}

output "region" {
  description = "Region of the stack."
  value       = var.region
}

output "ecr_repository_url" {
  description = "Repository to push images to (tag = git SHA)."
  value       = module.ecr.repository_url
}

output "cluster_name" {
  description = "ECS cluster name, for the deploy."
  value       = module.ecs_service.cluster_name
}

output "service_name" {
  description = "ECS service name, for the deploy."
  value       = module.ecs_service.service_name
}

output "task_definition_family" {
  description = "Task definition family the deploy registers revisions of."
  value       = module.ecs_service.task_definition_family
}

output "app_container_name" {
  description = "Container whose image the deploy replaces."
  value       = module.ecs_service.app_container_name
}

output "deploy_role_arn" {
  description = "Role for GitHub Actions (configure-aws-credentials role-to-assume)."
  value       = module.github_oidc.role_arn
}

output "github_oidc_provider_arn" {
  description = "GitHub OIDC provider ARN; pass it to the lambda example as github_oidc_provider_arn."
  value       = module.github_oidc.oidc_provider_arn
}

output "log_group_name" {
  description = "Log group of the app and collector containers."
  value       = module.ecs_service.log_group_name
}

output "github_actions_variables" {
  description = "Repository variables read by .github/workflows/deploy.yml for the fargate target."
  value = {
    AWS_REGION                  = var.region
    AWS_FARGATE_DEPLOY_ROLE_ARN = module.github_oidc.role_arn
    ECR_REPOSITORY_URL          = module.ecr.repository_url
    ECS_CLUSTER                 = module.ecs_service.cluster_name
    ECS_SERVICE                 = module.ecs_service.service_name
    ECS_CONTAINER_NAME          = module.ecs_service.app_container_name
    IMAGE_PLATFORM              = var.cpu_architecture == "ARM64" ? "linux/arm64" : "linux/amd64"
    FARGATE_URL                 = module.ecs_service.url
  }
}

output "users_table" {
  description = "DynamoDB table the users live in; fill it with `axum-xray-otel seed-users --count 100` (USERS_TABLE set to this)."
  value       = module.users_table.name
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the service."
  value       = module.ecs_service.dashboard_name
}
