variable "function_name" {
  type        = string
  description = "Name of the Lambda function."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 letters, digits, '-' or '_'."
  }
}

variable "package_path" {
  type        = string
  description = "Path of the bootstrap.zip built by `cargo lambda build --release --output-format zip` (used at creation; the CI deploys later code)."

  validation {
    condition     = endswith(var.package_path, ".zip")
    error_message = "package_path must point to the .zip that cargo lambda builds."
  }
}

variable "architecture" {
  type        = string
  description = "Instruction set of the function and of the zip: arm64 (Graviton, cheaper) or x86_64."
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "trace_export" {
  type        = string
  description = "How spans reach X-Ray: collector (the ADOT collector layer), direct (the app signs OTLP to the X-Ray endpoint itself) or xray-udp (OTLP over UDP to the X-Ray endpoint Lambda runs beside the function: no layer, no network wait). direct and xray-udp need Transaction Search, see modules/transaction-search."
  default     = "collector"
  nullable    = false

  validation {
    condition     = contains(["collector", "direct", "xray-udp"], var.trace_export)
    error_message = "trace_export must be collector, direct or xray-udp."
  }
}

variable "adot_layer_arn" {
  type        = string
  description = "ARN of the ADOT collector layer; its name must match the architecture (aws-otel-collector-arm64-ver-... or aws-otel-collector-amd64-ver-...). Null uses the pinned v0.117.0 layer of the current region."
  default     = null

  validation {
    condition = var.adot_layer_arn == null || can(regex(
      "^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:aws-otel-collector-${var.architecture == "arm64" ? "arm64" : "amd64"}-ver-[0-9]+-[0-9]+-[0-9]+:[0-9]+$",
      var.adot_layer_arn,
    ))
    error_message = "adot_layer_arn must be a versioned ADOT collector layer ARN whose name matches architecture: aws-otel-collector-arm64-ver-X-Y-Z:N for arm64, aws-otel-collector-amd64-ver-X-Y-Z:N for x86_64."
  }
}

variable "memory_size" {
  type        = number
  description = "Memory in MB (CPU grows with it). The collector extension shares it."
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "timeout" {
  type        = number
  description = "Seconds an invocation may run; longer than REQUEST_TIMEOUT_SECS (15)."
  default     = 30

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900 seconds."
  }
}

variable "reserved_concurrent_executions" {
  type        = number
  description = "Concurrency reserved for and capping the function: past it, invocations are throttled (429) instead of taking the account's whole concurrency or the table's capacity. -1 reserves none (accounts whose concurrency quota is still 10 cannot reserve any)."
  default     = 100

  validation {
    condition     = var.reserved_concurrent_executions >= -1
    error_message = "reserved_concurrent_executions must be -1 (unreserved) or a non-negative number."
  }
}

variable "managed_instances" {
  type = object({
    capacity_provider_arn = string
    # Invocations one execution environment serves at once (AWS_LAMBDA_MAX_CONCURRENCY).
    max_concurrency     = optional(number, 16)
    memory_gib_per_vcpu = optional(number)
  })
  description = "Run on a Lambda Managed Instances capacity provider (see modules/lambda-capacity-provider); null runs on Lambda's default compute."
  default     = null

  validation {
    condition     = var.managed_instances == null || try(var.managed_instances.max_concurrency >= 1, false)
    error_message = "managed_instances.max_concurrency must be at least 1."
  }
}

variable "url_auth_type" {
  type        = string
  description = "Function URL authorisation: AWS_IAM (SigV4-signed requests only) or NONE (public; adds the two resource-policy statements AWS requires, and needs allow_public_url = true)."
  default     = "AWS_IAM"

  validation {
    condition     = contains(["AWS_IAM", "NONE"], var.url_auth_type)
    error_message = "url_auth_type must be AWS_IAM or NONE."
  }

  validation {
    condition     = var.url_auth_type != "NONE" || var.allow_public_url
    error_message = "url_auth_type = \"NONE\" makes the function callable by anyone: set allow_public_url = true to mean it."
  }
}

variable "allow_public_url" {
  type        = bool
  description = "Opt-in for url_auth_type = \"NONE\": a public function URL has no WAF or rate limit in front of it; only reserved_concurrent_executions bounds what it costs."
  default     = false
  nullable    = false
}

variable "alias_name" {
  type        = string
  description = "Alias the function URL points at and the deploy script moves."
  default     = "live"

  validation {
    condition     = can(regex("^[A-Za-z_-][A-Za-z0-9_-]{0,127}$", var.alias_name))
    error_message = "alias_name must start with a letter, '-' or '_' (not a digit, which would read as a version) and be at most 128 characters."
  }
}

variable "log_retention_in_days" {
  type        = number
  description = "Days to keep the function logs."
  default     = 365
}

variable "log_kms_key_arn" {
  type        = string
  description = "KMS key for the log group; null creates a dedicated one."
  default     = null
}

variable "service_name" {
  type        = string
  description = "OTEL_SERVICE_NAME of the application."
  default     = "axum-xray-otel"
  nullable    = false
}

variable "deployment_environment" {
  type        = string
  description = "deployment.environment.name resource attribute of the spans."
  default     = "dev"
  nullable    = false
}

variable "environment" {
  type        = map(string)
  description = "Application environment variables that override or extend the shared defaults (see modules/app-environment)."
  default     = {}
  nullable    = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
  nullable    = false
}

variable "users_table" {
  type = object({
    name = string
    arn  = string
  })
  description = "The DynamoDB users table (dynamodb-table module outputs): sets USERS_TABLE and lets the function role call GetItem, PutItem and BatchWriteItem on it. null keeps users in process."
  default     = null
}

variable "events_queue" {
  type = object({
    url = string
    arn = string
  })
  description = "The SQS queue of POST /api/events: sets EVENTS_QUEUE_URL and lets the function role call SendMessage on it (add kms:GenerateDataKey and kms:Decrypt on its key if it uses a customer managed one). null turns the route off."
  default     = null
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic notified when an alarm changes state; null notifies nobody (canaries still roll back)."
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be an SNS topic ARN."
  }
}

variable "alarm_5xx_percent" {
  type        = number
  description = "Share of 5xx answers (percent, per minute) above which the 5xx alarm fires and a canary rolls back."
  default     = 5
  nullable    = false

  validation {
    condition     = var.alarm_5xx_percent > 0 && var.alarm_5xx_percent <= 100
    error_message = "alarm_5xx_percent must be above 0 and at most 100."
  }
}

variable "alarm_p99_seconds" {
  type        = number
  description = "p99 request duration (seconds) above which the latency alarm fires and a canary rolls back."
  default     = 2
  nullable    = false

  validation {
    condition     = var.alarm_p99_seconds > 0
    error_message = "alarm_p99_seconds must be positive."
  }
}

variable "database_url_secret_arn" {
  type        = string
  description = "ARN of a Secrets Manager secret whose string is the DATABASE_URL (a postgres:// URL with user and password). Unset: the embedded SQLite database."
  default     = null

  validation {
    condition     = var.database_url_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.database_url_secret_arn))
    error_message = "database_url_secret_arn must be a Secrets Manager secret ARN."
  }
}
