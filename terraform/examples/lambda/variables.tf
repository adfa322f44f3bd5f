variable "region" {
  type        = string
  description = "AWS region to deploy to."
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "function_name" {
  type        = string
  description = "Name of the Lambda function and prefix of the deploy role."
  default     = "axum-xray-otel"
}

variable "package_path" {
  type        = string
  description = "bootstrap.zip built by `cargo lambda build --release --arm64 --output-format zip`, relative to this directory or absolute."
  default     = "../../../target/lambda/axum-xray-otel/bootstrap.zip"
}

variable "architecture" {
  type        = string
  description = "arm64 (build with --arm64) or x86_64."
  default     = "arm64"
}

variable "adot_layer_arn" {
  type        = string
  description = "ADOT collector layer ARN matching the architecture; null uses the module's pinned version for this region."
  default     = null
}

variable "memory_size" {
  type        = number
  description = "Function memory in MB."
  default     = 256
}

variable "timeout" {
  type        = number
  description = "Function timeout in seconds."
  default     = 30
}

variable "url_auth_type" {
  type        = string
  description = "AWS_IAM (signed requests only, the default) or NONE (public URL; needs allow_public_url = true)."
  default     = "AWS_IAM"
}

variable "allow_public_url" {
  type        = bool
  description = "Set to true to allow url_auth_type = \"NONE\" (a public function URL)."
  default     = false
}

variable "reserved_concurrent_executions" {
  type        = number
  description = "Concurrency reserved for and capping the function; -1 reserves none."
  default     = 100
}

variable "trace_export" {
  type        = string
  description = "collector (the ADOT collector layer), direct (the app signs OTLP to X-Ray itself) or xray-udp (OTLP over UDP to Lambda's own X-Ray endpoint); turn Transaction Search on first for the last two, e.g. with transaction_search = true."
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
  description = "Days to keep the function logs."
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
  description = "Existing GitHub OIDC provider of the account (e.g. created by the fargate example); null creates it."
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

variable "capacity_provider_arn" {
  type        = string
  description = "Lambda Managed Instances: run on this capacity provider (modules/lambda-capacity-provider builds one in your VPC); null runs on Lambda's default compute."
  default     = null
}

variable "database_url_secret_arn" {
  type        = string
  description = "ARN of a Secrets Manager secret holding the DATABASE_URL (postgres://…); null uses the embedded SQLite database."
  default     = null
}
