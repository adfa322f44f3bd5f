variable "name" {
  type        = string
  description = "Name of the cluster, service, task family and prefix of the other resources."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.name))
    error_message = "name must be 2-32 lowercase letters, digits or '-' (the ALB name limit), starting with a letter."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the load balancer and the tasks."

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "public_subnet_ids" {
  type        = list(string)
  description = "Subnets of the internet-facing load balancer, in at least two availability zones."

  validation {
    condition     = length(var.public_subnet_ids) >= 2 && alltrue([for s in var.public_subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "public_subnet_ids needs at least two subnet ids, in two availability zones (an ALB spans two AZs)."
  }
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Subnets of the tasks, in at least two availability zones (checked at plan); they get no public IP and need a route to AWS APIs (NAT or VPC endpoints)."

  validation {
    condition     = length(distinct(var.private_subnet_ids)) >= 2 && alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "private_subnet_ids needs at least two subnet ids, in two availability zones: in one zone, an AZ outage stops every task."
  }
}

variable "repository_url" {
  type        = string
  description = "ECR repository URL of the application image, without tag."
}

variable "repository_arn" {
  type        = string
  description = "ARN of that repository; the execution role may pull from it only."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/.+$", var.repository_arn))
    error_message = "repository_arn must be an ECR repository ARN."
  }
}

variable "image_tag" {
  type        = string
  description = "Tag of the application image for the first deployment (the CI deploys later ones), e.g. a git SHA."

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a valid, immutable image tag; 'latest' is refused."
  }
}

variable "collector_image" {
  type        = string
  description = "ADOT collector image, pinned to a version."
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.49.0"

  validation {
    condition     = can(regex(":[A-Za-z0-9_][A-Za-z0-9_.-]*$|@sha256:[0-9a-f]{64}$", var.collector_image)) && !endswith(var.collector_image, ":latest")
    error_message = "collector_image must carry an explicit tag or digest, never latest."
  }
}

variable "trace_export" {
  type        = string
  description = "How spans reach X-Ray: collector (an ADOT sidecar in each task) or direct (the app signs OTLP to the X-Ray endpoint itself; no sidecar; needs Transaction Search, see modules/transaction-search)."
  default     = "collector"
  nullable    = false

  validation {
    condition     = contains(["collector", "direct"], var.trace_export)
    error_message = "trace_export must be collector or direct."
  }
}

variable "collector_config" {
  type        = string
  description = "ADOT collector configuration (YAML text, e.g. file(\"config/ecs.yaml\")); stored in SSM and injected as AOT_CONFIG_CONTENT. It must enable the health_check extension. Required when trace_export is collector, unused when direct."
  default     = null

  validation {
    condition     = var.collector_config == null || strcontains(coalesce(var.collector_config, "-"), "health_check")
    error_message = "collector_config must enable the health_check extension: the container health check depends on it."
  }
}

variable "container_port" {
  type        = number
  description = "Port the application listens on (PORT)."
  default     = 8080

  validation {
    condition     = var.container_port >= 1024 && var.container_port <= 65535 && !contains([4317, 4318, 13133], var.container_port)
    error_message = "container_port must be 1024-65535 (the app runs as non-root) and not a collector port (4317, 4318, 13133)."
  }
}

variable "cpu" {
  type        = number
  description = "Task CPU units."
  default     = 256

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.cpu)
    error_message = "cpu must be 256, 512, 1024, 2048 or 4096."
  }
}

variable "memory" {
  type        = number
  description = "Task memory in MiB; must be a Fargate combination with cpu."
  default     = 512

  validation {
    condition = contains(lookup({
      256  = [512, 1024, 2048]
      512  = [for g in range(1, 5) : g * 1024]
      1024 = [for g in range(2, 9) : g * 1024]
      2048 = [for g in range(4, 17) : g * 1024]
      4096 = [for g in range(8, 31) : g * 1024]
    }, tostring(var.cpu), []), var.memory)
    error_message = "memory is not a valid Fargate size for this cpu (e.g. 256 -> 512/1024/2048, 512 -> 1024-4096)."
  }
}

variable "cpu_architecture" {
  type        = string
  description = "CPU architecture of the image: ARM64 (Graviton, what the CI builds by default) or X86_64."
  default     = "ARM64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "collector_memory" {
  type        = number
  description = "Hard memory limit of the collector container in MiB; config/ecs.yaml sizes its memory_limiter for 256."
  default     = 256

  validation {
    condition     = var.collector_memory >= 64 && var.collector_memory < var.memory
    error_message = "collector_memory must be at least 64 MiB and leave memory for the app (less than memory)."
  }
}

variable "stop_timeout" {
  type        = number
  description = "Seconds ECS waits after SIGTERM before SIGKILL (container stopTimeout); longer than shutdown_timeout_secs."
  default     = 30

  validation {
    condition     = var.stop_timeout >= 2 && var.stop_timeout <= 120
    error_message = "stop_timeout must be between 2 and 120 seconds (Fargate limit)."
  }
}

variable "deregistration_delay" {
  type        = number
  description = "Seconds the target group keeps draining a stopping task before ECS sends SIGTERM; at least REQUEST_TIMEOUT_SECS (the longest request) and shorter than stop_timeout."
  default     = 20

  validation {
    condition     = var.deregistration_delay >= 0 && var.deregistration_delay <= 3600
    error_message = "deregistration_delay must be between 0 and 3600 seconds."
  }
}

variable "alb_idle_timeout" {
  type        = number
  description = "Seconds the ALB keeps an idle connection open (to clients and to the tasks); shorter than idle_timeout_secs."
  default     = 60
  nullable    = false

  validation {
    condition     = var.alb_idle_timeout >= 1 && var.alb_idle_timeout <= 4000
    error_message = "alb_idle_timeout must be between 1 and 4000 seconds."
  }
}

variable "idle_timeout_secs" {
  type        = number
  description = "IDLE_TIMEOUT_SECS: seconds the app keeps an idle keep-alive connection; longer than alb_idle_timeout, so the ALB closes first and never sends on a connection the app is closing."
  default     = 75
  nullable    = false

  validation {
    condition     = var.idle_timeout_secs > var.alb_idle_timeout
    error_message = "idle_timeout_secs must be longer than alb_idle_timeout, or the app may close a connection the ALB is about to reuse (a 502)."
  }
}

variable "shutdown_timeout_secs" {
  type        = number
  description = "SHUTDOWN_TIMEOUT_SECS: one budget, after SIGTERM, for draining requests and flushing spans and metrics; shorter than stop_timeout."
  default     = 25
  nullable    = false

  validation {
    condition     = var.shutdown_timeout_secs >= 1 && var.shutdown_timeout_secs < var.stop_timeout
    error_message = "shutdown_timeout_secs must be at least 1 and shorter than stop_timeout, or ECS kills the app while it drains."
  }
}

variable "max_in_flight_requests" {
  type        = number
  description = "MAX_IN_FLIGHT_REQUESTS: requests one task serves at once; beyond it the app answers 503 at once (the ALB then counts HTTPCode_Target_5XX)."
  default     = 1024
  nullable    = false

  validation {
    condition     = var.max_in_flight_requests >= 1 && floor(var.max_in_flight_requests) == var.max_in_flight_requests
    error_message = "max_in_flight_requests must be a positive whole number."
  }
}

variable "health_check_grace_period_seconds" {
  type        = number
  description = "Seconds after a task starts during which failing ALB health checks are ignored."
  default     = 30

  validation {
    condition     = var.health_check_grace_period_seconds >= 0 && var.health_check_grace_period_seconds <= 2147483647
    error_message = "health_check_grace_period_seconds must not be negative."
  }
}

variable "min_capacity" {
  type        = number
  description = "Minimum (and initial) number of tasks."
  default     = 2

  validation {
    condition     = var.min_capacity >= 1
    error_message = "min_capacity must be at least 1."
  }
}

variable "max_capacity" {
  type        = number
  description = "Maximum number of tasks the autoscaler may run."
  default     = 6

  validation {
    condition     = var.max_capacity >= var.min_capacity
    error_message = "max_capacity must be at least min_capacity."
  }
}

variable "cpu_target_percent" {
  type        = number
  description = "Average CPU utilisation the autoscaler aims for."
  default     = 60

  validation {
    condition     = var.cpu_target_percent > 0 && var.cpu_target_percent <= 100
    error_message = "cpu_target_percent must be in (0, 100]."
  }
}

variable "requests_per_target" {
  type        = number
  description = "ALB requests per task per minute the autoscaler aims for."
  default     = 1000

  validation {
    condition     = var.requests_per_target > 0
    error_message = "requests_per_target must be positive."
  }
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate for an HTTPS listener; the HTTP listener then only redirects (301) to HTTPS. Null needs allow_insecure_http = true, and the ALB serves plain HTTP."
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }

  validation {
    condition     = var.certificate_arn != null || var.allow_insecure_http
    error_message = "No certificate_arn: the ALB would serve plain HTTP. Give a certificate, or set allow_insecure_http = true to mean it."
  }
}

variable "allow_insecure_http" {
  type        = bool
  description = "Waiver for serving plain HTTP when certificate_arn is null (a test stack, or TLS ended in front of the ALB). Without a certificate and without it, the plan fails."
  default     = false
  nullable    = false
}

variable "waf_enabled" {
  type        = bool
  description = "Put a WAF web ACL in front of the internet-facing ALB: AWS managed rules (common, known bad inputs, IP reputation) and a per-IP rate limit."
  default     = true
  nullable    = false
}

variable "waf_rate_limit" {
  type        = number
  description = "Requests one client IP may send in any 5 minutes before the WAF blocks it (rate-based rule)."
  default     = 2000
  nullable    = false

  validation {
    condition     = var.waf_rate_limit >= 10 && var.waf_rate_limit <= 2000000000
    error_message = "waf_rate_limit must be between 10 and 2,000,000,000 (the WAF limits)."
  }
}

variable "waf_log_retention_in_days" {
  type        = number
  description = "Days to keep the WAF logs (log group aws-waf-logs-<name>)."
  default     = 365
}

variable "ssl_policy" {
  type        = string
  description = "TLS policy of the HTTPS listener."
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  nullable    = false
}

variable "alb_ingress_cidrs" {
  type        = list(string)
  description = "IPv4 CIDRs allowed to reach the load balancer."
  default     = ["0.0.0.0/0"]
  nullable    = false

  validation {
    condition     = length(var.alb_ingress_cidrs) > 0 && alltrue([for c in var.alb_ingress_cidrs : can(cidrnetmask(c))])
    error_message = "alb_ingress_cidrs must be a non-empty list of IPv4 CIDRs."
  }
}

variable "alb_deletion_protection" {
  type        = bool
  description = "Refuse to delete the load balancer; set to false (and apply) before terraform destroy."
  default     = true
  nullable    = false
}

variable "access_logs_bucket" {
  type        = string
  description = "Existing S3 bucket (with the ELB log delivery bucket policy) for ALB access logs; null uses the module's own bucket when access_logs_enabled, or none."
  default     = null
}

variable "access_logs_enabled" {
  type        = bool
  description = "Write ALB access logs to an S3 bucket this module creates (SSE-S3, public access blocked, TLS only, writable by the ELB log delivery only, expiring after access_logs_retention_in_days). Ignored when access_logs_bucket is set."
  default     = false
  nullable    = false
}

variable "access_logs_retention_in_days" {
  type        = number
  description = "Days the module's access log bucket keeps a log object."
  default     = 365
  nullable    = false

  validation {
    condition     = var.access_logs_retention_in_days >= 1
    error_message = "access_logs_retention_in_days must be at least 1."
  }
}

variable "access_logs_prefix" {
  type        = string
  description = "Key prefix of the ALB access logs in access_logs_bucket."
  default     = null
}

variable "container_insights" {
  type        = string
  description = "Container Insights level of the cluster: enhanced gives the per-container CPU and memory the dashboard shows; enabled costs less (task level only)."
  default     = "enhanced"

  validation {
    condition     = contains(["enabled", "enhanced"], var.container_insights)
    error_message = "container_insights must be enabled or enhanced."
  }
}

variable "log_retention_in_days" {
  type        = number
  description = "Days to keep the application and collector logs."
  default     = 365
}

variable "log_buffer_size" {
  type        = string
  description = "max-buffer-size of the awslogs driver (non-blocking mode) for each container: what it holds while CloudWatch Logs is slow; lines beyond it are dropped."
  default     = "25m"
  nullable    = false

  validation {
    condition     = can(regex("^[1-9][0-9]*[kmg]$", var.log_buffer_size))
    error_message = "log_buffer_size must be a size such as 25m (k, m or g)."
  }
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
  description = "The DynamoDB users table (dynamodb-table module outputs): sets USERS_TABLE and lets the task role call GetItem, PutItem and BatchWriteItem on it. null keeps users in process."
  default     = null
}

variable "events_queue" {
  type = object({
    url = string
    arn = string
  })
  description = "The SQS queue of POST /api/events: sets EVENTS_QUEUE_URL and lets the task role call SendMessage on it (add kms:GenerateDataKey and kms:Decrypt on its key if it uses a customer managed one). null turns the route off."
  default     = null
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic notified when an alarm changes state; null notifies nobody (deployments still roll back)."
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be an SNS topic ARN."
  }
}

variable "alarm_5xx_percent" {
  type        = number
  description = "Share of 5xx answers (percent, per minute) above which the 5xx alarm fires and a deployment rolls back."
  default     = 5
  nullable    = false

  validation {
    condition     = var.alarm_5xx_percent > 0 && var.alarm_5xx_percent <= 100
    error_message = "alarm_5xx_percent must be above 0 and at most 100."
  }
}

variable "alarm_p99_seconds" {
  type        = number
  description = "p99 target response time (seconds) above which the latency alarm fires and a deployment rolls back."
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
