variable "region" {
  type        = string
  description = "AWS region to deploy to."
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "name" {
  type        = string
  description = "Name of the stack: ECR repository, cluster, service, ALB and resource prefix."
  default     = "axum-xray-otel"
}

variable "image_tag" {
  type        = string
  description = "Tag of an image already pushed to the ECR repository (e.g. the git SHA) for the first deployment."
}

variable "cpu_architecture" {
  type        = string
  description = "Architecture the image was built for: ARM64 (the CI's default linux/arm64) or X86_64."
  default     = "ARM64"
}

variable "create_vpc" {
  type        = bool
  description = "Create a small VPC (modules/network). Set to false and pass vpc_id and subnet ids to use an existing one."
  default     = true
  nullable    = false
}

variable "enable_nat_gateway" {
  type        = bool
  description = "With create_vpc: give the private subnets a NAT gateway (needed unless you add VPC endpoints)."
  default     = true
  nullable    = false
}

variable "nat_gateway_per_az" {
  type        = bool
  description = "With create_vpc: one NAT gateway per zone (twice the cost; a zone outage no longer cuts the other's egress)."
  default     = false
  nullable    = false
}

variable "interface_endpoints" {
  type        = bool
  description = "With create_vpc: interface endpoints for X-Ray, Logs, ECR, STS and SSM (AWS traffic off the NAT gateway)."
  default     = false
  nullable    = false
}

variable "vpc_id" {
  type        = string
  description = "Existing VPC, when create_vpc is false."
  default     = null

  validation {
    condition     = var.create_vpc || var.vpc_id != null
    error_message = "vpc_id is required when create_vpc is false."
  }
}

variable "public_subnet_ids" {
  type        = list(string)
  description = "Existing public subnets (two AZs) for the ALB, when create_vpc is false."
  default     = []
  nullable    = false

  validation {
    condition     = var.create_vpc || length(var.public_subnet_ids) >= 2
    error_message = "public_subnet_ids needs two subnets when create_vpc is false."
  }
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Existing private subnets for the tasks, when create_vpc is false."
  default     = []
  nullable    = false

  validation {
    condition     = var.create_vpc || length(var.private_subnet_ids) >= 1
    error_message = "private_subnet_ids needs at least one subnet when create_vpc is false."
  }
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate for HTTPS on the ALB (HTTP then redirects); null needs allow_insecure_http = true."
  default     = null
}

variable "allow_insecure_http" {
  type        = bool
  description = "Serve plain HTTP without a certificate (a test stack); the plan fails with neither."
  default     = false
  nullable    = false
}

variable "waf_enabled" {
  type        = bool
  description = "WAF web ACL (AWS managed rules, per-IP rate limit) in front of the ALB."
  default     = true
  nullable    = false
}

variable "access_logs_enabled" {
  type        = bool
  description = "ALB access logs in an S3 bucket the stack creates (ignored when access_logs_bucket is set)."
  default     = false
  nullable    = false
}

variable "alb_deletion_protection" {
  type        = bool
  description = "Protect the ALB from deletion; set to false and apply before terraform destroy."
  default     = true
  nullable    = false
}

variable "access_logs_bucket" {
  type        = string
  description = "S3 bucket for ALB access logs; null disables them."
  default     = null
}

variable "ecr_force_delete" {
  type        = bool
  description = "Let terraform destroy delete the ECR repository with its images."
  default     = false
  nullable    = false
}

variable "trace_export" {
  type        = string
  description = "collector (the ADOT sidecar) or direct (the app signs OTLP to X-Ray itself; turn Transaction Search on first, e.g. with transaction_search = true)."
  default     = "collector"
}

variable "transaction_search" {
  type        = bool
  description = "Turn X-Ray Transaction Search on for the account and region (account-wide; see modules/transaction-search)."
  default     = false
}

variable "deployment_environment" {
  type        = string
  description = "deployment.environment.name attribute of the spans."
  default     = "dev"
}

variable "app_environment" {
  type        = map(string)
  description = "Application environment variables overriding the shared defaults, e.g. { RUST_LOG = \"debug\" }."
  default     = {}
  nullable    = false
}

variable "log_retention_in_days" {
  type        = number
  description = "Days to keep the container logs."
  default     = 365
}

variable "github_repository" {
  type        = string
  description = "GitHub repository (owner/name) whose workflow deploys this stack."
}

variable "github_environment" {
  type        = string
  description = "GitHub environment the deploy job runs in (.github/workflows/deploy.yml uses production by default); when null, github_branch is trusted instead."
  default     = "production"
}

variable "github_branch" {
  type        = string
  description = "Branch trusted to deploy when github_environment is null."
  default     = "main"
  nullable    = false
}

variable "github_subject_prefix" {
  type        = string
  description = "Prefix of the OIDC sub claim (\"repo\" unless the repository customised its subject template)."
  default     = "repo"
  nullable    = false
}

variable "github_oidc_provider_arn" {
  type        = string
  description = "Existing GitHub OIDC provider of the account (e.g. created by the lambda example); null creates it."
  default     = null
}

variable "users_table_deletion_protection" {
  type        = bool
  description = "Deletion protection of the users table; set false and apply before terraform destroy."
  default     = true
  nullable    = false
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic the 5xx and latency alarms notify; null notifies nobody (deployments still roll back on them)."
  default     = null
}

variable "database_url_secret_arn" {
  type        = string
  description = "ARN of a Secrets Manager secret holding the DATABASE_URL (postgres://…); null uses the embedded SQLite database."
  default     = null
}
