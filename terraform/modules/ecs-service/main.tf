data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id

  app_container       = "app"
  collector_container = "aws-otel-collector"
  https               = var.certificate_arn != null
  # direct: the app exports to X-Ray itself (OTLP signed with SigV4), no sidecar;
  # metrics go as EMF lines on stdout, which the awslogs driver delivers.
  collector = var.trace_export == "collector"
  trace_environment = local.collector ? {} : {
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = "https://xray.${local.region}.amazonaws.com/v1/traces"
    OTEL_EXPORTER_OTLP_COMPRESSION     = "gzip"
    OTEL_METRICS_EXPORTER              = "emf"
  }
  # X-Ray centralized sampling: rules and quotas through the sidecar's awsproxy,
  # or from X-Ray itself, signed, without one. var.environment may override both.
  sampling_environment = {
    OTEL_TRACES_SAMPLER     = "xray"
    OTEL_TRACES_SAMPLER_ARG = "endpoint=${local.collector ? "http://localhost:2000" : "https://xray.${local.region}.amazonaws.com"},polling_interval=300"
  }

  serve_environment = {
    IDLE_TIMEOUT_SECS      = tostring(var.idle_timeout_secs)
    SHUTDOWN_TIMEOUT_SECS  = tostring(var.shutdown_timeout_secs)
    MAX_IN_FLIGHT_REQUESTS = tostring(var.max_in_flight_requests)
  }
  # What the app really gets (var.environment may override the variables above).
  idle_timeout     = tonumber(module.app_environment.variables["IDLE_TIMEOUT_SECS"])
  shutdown_timeout = tonumber(module.app_environment.variables["SHUTDOWN_TIMEOUT_SECS"])
  request_timeout  = tonumber(module.app_environment.variables["REQUEST_TIMEOUT_SECS"])

  # Built from names rather than read from the service resource so the deploy
  # policy does not wait for the service to exist.
  service_arn         = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:service/${aws_ecs_cluster.this.name}/${var.name}"
  task_definition_arn = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition/${var.name}:*"
}

module "app_environment" {
  source = "../app-environment"

  target                 = "http"
  service_name           = var.service_name
  deployment_environment = var.deployment_environment
  users_table            = try(var.users_table.name, null)
  events_queue_url       = try(var.events_queue.url, null)
  # Fargate sets AWS_REGION too; spelled out because the binary requires it with USERS_TABLE.
  overrides = merge(local.trace_environment, local.serve_environment, local.sampling_environment, var.environment, { PORT = tostring(var.container_port), AWS_REGION = local.region })
}

module "logs" {
  source = "../log-group"

  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_in_days
  kms_key_arn       = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = var.container_insights
  }

  tags = var.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

# The collector reads its whole configuration from AOT_CONFIG_CONTENT. Keeping
# it in a parameter (not in the task definition) lets it exceed the container
# definition size limits and keeps config/ecs.yaml the single source.
resource "aws_ssm_parameter" "collector_config" {
  #checkov:skip=CKV_AWS_337:the collector config holds no secret; SecureString with the aws/ssm key needs no extra key or kms:Decrypt grant
  count = local.collector ? 1 : 0

  name        = "/${var.name}/otel-collector-config"
  description = "ADOT collector configuration of the ${var.name} ECS tasks (config/ecs.yaml)"
  type        = "SecureString"
  tier        = length(var.collector_config) > 4096 ? "Advanced" : "Standard"
  value       = var.collector_config
  tags        = var.tags

  lifecycle {
    precondition {
      condition     = var.collector_config != null
      error_message = "collector_config is required when trace_export is collector."
    }
    # The limiter must act before the container's hard limit kills the collector.
    precondition {
      condition     = try(yamldecode(var.collector_config).processors.memory_limiter.limit_mib < var.collector_memory, false)
      error_message = "collector_config must have a memory_limiter processor whose limit_mib is below collector_memory (${var.collector_memory} MiB)."
    }
  }
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode(concat([
    {
      name                   = local.app_container
      image                  = "${var.repository_url}:${var.image_tag}"
      essential              = true
      user                   = "65532"
      readonlyRootFilesystem = true
      # Longer than SHUTDOWN_TIMEOUT_SECS (drain + flushes) so the app exits before SIGKILL.
      stopTimeout  = var.stop_timeout
      portMappings = [{ containerPort = var.container_port, protocol = "tcp" }]
      environment  = module.app_environment.container_environment
      # Injected by the ECS agent at start: the URL is never in the task
      # definition or the Terraform state, only the secret's ARN.
      secrets = var.database_url_secret_arn == null ? null : [
        { name = "DATABASE_URL", valueFrom = var.database_url_secret_arn },
      ]
      # Start only once the collector answers its health check, so the first
      # spans are not exported into a closed port. On stop, ECS stops the app
      # first and the collector last, so it can flush what the app sent.
      dependsOn = local.collector ? [{ containerName = local.collector_container, condition = "HEALTHY" }] : null
      healthCheck = {
        command     = ["CMD", "/axum-xray-otel", "healthcheck"]
        interval    = 10
        timeout     = 5
        retries     = 3
        startPeriod = 10
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = module.logs.name
          awslogs-region        = local.region
          awslogs-stream-prefix = local.app_container
          # Non-blocking: a slow CloudWatch Logs must never stall the app's
          # stdout, and so its requests. When the buffer fills, the driver
          # drops lines (logs, and EMF metrics with trace_export = direct);
          # docs/telemetry.md says what is lost.
          mode            = "non-blocking"
          max-buffer-size = var.log_buffer_size
        }
      }
    }
    ], local.collector ? [
    {
      name  = local.collector_container
      image = var.collector_image
      # Not essential: a collector crash must not stop the task and cut the
      # requests it serves. Instead ECS restarts the collector in place (the
      # restart policy below, within seconds); the app only starts once the
      # collector is HEALTHY (dependsOn); spans the app cannot export meanwhile
      # are counted (otel.sdk.exporter.span.exported with error.type) and the
      # telemetry alarms of monitoring.tf notify, the telemetry-silent one when
      # the ALB serves traffic and no app metric arrives.
      essential = false
      restartPolicy = {
        enabled              = true
        restartAttemptPeriod = 60
      }
      # Hard limit: the configuration's memory_limiter is sized against it.
      memory = var.collector_memory
      # The image (FROM scratch) sets no USER: run it as an unprivileged uid.
      user                   = "10001"
      readonlyRootFilesystem = true
      stopTimeout            = var.stop_timeout
      secrets = [
        { name = "AOT_CONFIG_CONTENT", valueFrom = aws_ssm_parameter.collector_config[0].arn },
      ]
      # Read by the awsemf exporter of config/ecs.yaml.
      environment = [
        { name = "METRICS_NAMESPACE", value = local.metrics_namespace },
        { name = "METRICS_LOG_GROUP", value = module.metrics_logs.name },
      ]
      # The image is shell-less; /healthcheck queries the health_check
      # extension the configuration must enable.
      healthCheck = {
        command     = ["CMD", "/healthcheck"]
        interval    = 10
        timeout     = 5
        retries     = 3
        startPeriod = 10
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = module.logs.name
          awslogs-region        = local.region
          awslogs-stream-prefix = local.collector_container
          mode                  = "non-blocking"
          max-buffer-size       = var.log_buffer_size
        }
      }
    }
  ] : []))

  tags = var.tags

  lifecycle {
    precondition {
      condition     = local.shutdown_timeout < var.stop_timeout
      error_message = "SHUTDOWN_TIMEOUT_SECS must be shorter than stop_timeout, or ECS kills the app while it drains."
    }
    precondition {
      condition     = local.idle_timeout > var.alb_idle_timeout
      error_message = "IDLE_TIMEOUT_SECS must be longer than alb_idle_timeout, or the app may close a connection the ALB is about to reuse (a 502)."
    }
  }
}

# The zones of the given subnets: one zone would take the service (or the ALB)
# down with it, which the variables' validation cannot see from ids alone.
data "aws_subnet" "private" {
  for_each = toset(var.private_subnet_ids)
  id       = each.value
}

data "aws_subnet" "public" {
  for_each = toset(var.public_subnet_ids)
  id       = each.value
}

resource "aws_ecs_service" "this" {
  name                               = var.name
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = var.min_capacity
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  health_check_grace_period_seconds  = var.health_check_grace_period_seconds
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  wait_for_steady_state              = false

  # A release whose tasks never become healthy, or that trips an alarm while
  # it rolls out, goes back to the previous task definition by itself. The
  # alarms see the app's 5xx rate, the ALB's target and ELB 5xx, unhealthy
  # targets and p99 latency (monitoring.tf).
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  alarms {
    enable      = true
    rollback    = true
    alarm_names = local.rollback_alarms
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = local.app_container
    container_port   = var.container_port
  }

  tags = var.tags

  # The CI deploy registers new task definition revisions and the autoscaler
  # owns the task count; Terraform must not roll either back.
  lifecycle {
    ignore_changes = [desired_count, task_definition]

    precondition {
      condition     = length(distinct([for s in data.aws_subnet.private : s.availability_zone])) >= 2
      error_message = "private_subnet_ids are all in one availability zone; the tasks need subnets in at least two."
    }
    precondition {
      condition     = length(distinct([for s in data.aws_subnet.public : s.availability_zone])) >= 2
      error_message = "public_subnet_ids are all in one availability zone; the ALB needs subnets in at least two."
    }
  }

  depends_on = [aws_lb_listener.http, aws_lb_listener.https, aws_iam_role_policy.execution]
}
