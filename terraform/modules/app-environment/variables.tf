variable "target" {
  type        = string
  description = "Which server the binary runs: http (Fargate behind the ALB) or lambda."

  validation {
    condition     = contains(["http", "lambda"], var.target)
    error_message = "target must be http or lambda."
  }
}

variable "service_name" {
  type        = string
  description = "OTEL_SERVICE_NAME: the service name shown in X-Ray."
  default     = "axum-xray-otel"
  nullable    = false

  validation {
    condition     = length(var.service_name) > 0 && length(var.service_name) <= 128
    error_message = "service_name must be 1-128 characters."
  }
}

variable "deployment_environment" {
  type        = string
  description = "Value of the deployment.environment.name resource attribute (e.g. dev, prod)."
  default     = "dev"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,64}$", var.deployment_environment))
    error_message = "deployment_environment must be 1-64 letters, digits, '.', '_' or '-'."
  }
}

variable "users_table" {
  type        = string
  description = "USERS_TABLE: the DynamoDB table users live in; null keeps them in process."
  default     = null

  validation {
    condition     = var.users_table == null || can(regex("^[A-Za-z0-9_.-]{3,255}$", var.users_table))
    error_message = "users_table must be a DynamoDB table name (3-255 letters, digits, '_', '.' or '-')."
  }
}

variable "events_queue_url" {
  type        = string
  description = "EVENTS_QUEUE_URL: the SQS queue POST /api/events sends to; null turns the route off (404)."
  default     = null

  validation {
    condition     = var.events_queue_url == null || can(regex("^https://sqs\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[0-9]{12}/[A-Za-z0-9_-]{1,80}(\\.fifo)?$", var.events_queue_url))
    error_message = "events_queue_url must be an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)."
  }
}

variable "overrides" {
  type        = map(string)
  description = "Variables that replace or extend the defaults, e.g. { RUST_LOG = \"debug\" }. APP_TARGET comes from target."
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k in keys(var.overrides) : can(regex("^[A-Z][A-Z0-9_]*$", k))])
    error_message = "Variable names must be upper case letters, digits and '_'."
  }

  validation {
    condition     = !contains(keys(var.overrides), "APP_TARGET")
    error_message = "Set APP_TARGET through the target variable, not overrides."
  }

  validation {
    condition     = contains(["json", "pretty"], lookup(var.overrides, "LOG_FORMAT", "json"))
    error_message = "LOG_FORMAT must be json or pretty."
  }

  validation {
    condition     = contains(["http/protobuf", "grpc"], lookup(var.overrides, "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"))
    error_message = "OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or grpc."
  }

  validation {
    condition     = contains(["otlp", "console", "none"], lookup(var.overrides, "OTEL_TRACES_EXPORTER", "otlp"))
    error_message = "OTEL_TRACES_EXPORTER must be otlp, console or none."
  }

  validation {
    condition     = contains(["true", "false"], lookup(var.overrides, "TRACE_HEALTH_CHECKS", "false"))
    error_message = "TRACE_HEALTH_CHECKS must be true or false."
  }
}
