data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.region

  # ADOT names its layers by Docker-style architecture.
  layer_arch = var.architecture == "arm64" ? "arm64" : "amd64"
  # Pinned default: ADOT collector for Lambda v0.117.0, layer version 1
  # (https://aws-otel.github.io/docs/getting-started/lambda).
  adot_layer_arn = coalesce(
    var.adot_layer_arn,
    "arn:${local.partition}:lambda:${local.region}:901920570463:layer:aws-otel-collector-${local.layer_arch}-ver-0-117-0:1",
  )

  public_url = var.url_auth_type == "NONE"

  # direct: the app exports to X-Ray itself (OTLP signed with SigV4), no layer.
  # xray-udp: OTLP over UDP to the X-Ray endpoint Lambda runs beside the
  # function (active tracing), no layer and no network wait in the flush.
  collector = var.trace_export == "collector"
  direct    = var.trace_export == "direct"
  trace_environment = {
    collector = {
      # config/lambda.yaml is packaged into the zip by cargo lambda.
      OPENTELEMETRY_COLLECTOR_CONFIG_URI = "/var/task/config/lambda.yaml"
    }
    direct = {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = "https://xray.${local.region}.amazonaws.com/v1/traces"
      OTEL_EXPORTER_OTLP_COMPRESSION     = "gzip"
    }
    xray-udp = {
      OTEL_TRACES_EXPORTER = "xray-udp"
    }
  }[var.trace_export]
}

module "app_environment" {
  source = "../app-environment"

  target                 = "lambda"
  service_name           = var.service_name
  deployment_environment = var.deployment_environment
  users_table            = try(var.users_table.name, null)
  events_queue_url       = try(var.events_queue.url, null)
  # Only the secret's ARN is in the environment: the binary reads the URL
  # from Secrets Manager at start-up, so it is never in the function's
  # configuration or the Terraform state.
  overrides = merge(
    local.collector ? {} : local.trace_environment,
    var.database_url_secret_arn == null ? {} : { DATABASE_URL_SECRET_ARN = var.database_url_secret_arn },
    var.environment,
  )
}

module "logs" {
  source = "../log-group"

  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_in_days
  kms_key_arn       = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:invoked synchronously through its URL; a dead-letter queue only applies to asynchronous invocations
  #checkov:skip=CKV_AWS_117:reaches only public endpoints (X-Ray, EXTERNAL_URL); a VPC would add a NAT gateway and nothing to protect
  #checkov:skip=CKV_AWS_173:the environment holds no secrets; Lambda encrypts it at rest with its AWS managed key
  #checkov:skip=CKV_AWS_272:cargo lambda builds an unsigned zip; code signing needs an AWS Signer profile, out of scope
  function_name = var.function_name
  description   = "axum-xray-otel on Lambda, traced with OpenTelemetry to X-Ray"
  role          = aws_iam_role.this.arn
  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = [var.architecture]
  memory_size   = var.memory_size
  timeout       = var.timeout

  filename         = var.package_path
  source_code_hash = filebase64sha256(var.package_path)
  # Each change of code or configuration becomes a numbered version; the alias
  # (and so the URL) moves only when the deploy script says so.
  publish = true

  reserved_concurrent_executions = var.reserved_concurrent_executions

  layers = local.collector ? [local.adot_layer_arn] : []

  environment {
    variables = merge(module.app_environment.variables, local.collector ? local.trace_environment : {})
  }

  tracing_config {
    mode = "Active"
  }

  # Lambda Managed Instances: Lambda sets AWS_LAMBDA_MAX_CONCURRENCY from
  # per_execution_environment_max_concurrency.
  dynamic "capacity_provider_config" {
    for_each = var.managed_instances == null ? [] : [var.managed_instances]

    content {
      lambda_managed_instances_capacity_provider_config {
        capacity_provider_arn                     = capacity_provider_config.value.capacity_provider_arn
        per_execution_environment_max_concurrency = capacity_provider_config.value.max_concurrency
        execution_environment_memory_gib_per_vcpu = capacity_provider_config.value.memory_gib_per_vcpu
      }
    }
  }

  logging_config {
    log_format = "Text"
    log_group  = module.logs.name
  }

  tags = var.tags

  # After the first apply, the CI deploy (UpdateFunctionCode) owns the code.
  lifecycle {
    ignore_changes = [filename, source_code_hash]

    precondition {
      condition     = tonumber(module.app_environment.variables["REQUEST_TIMEOUT_SECS"]) < var.timeout
      error_message = "REQUEST_TIMEOUT_SECS must be shorter than the function timeout, or Lambda kills the invocation before the app answers."
    }
  }

  depends_on = [aws_iam_role_policy.this]
}

resource "aws_lambda_alias" "this" {
  name             = var.alias_name
  description      = "Version served by the function URL; moved by the deploy script"
  function_name    = aws_lambda_function.this.function_name
  function_version = aws_lambda_function.this.version

  lifecycle {
    ignore_changes = [function_version, routing_config]
  }
}

resource "aws_lambda_function_url" "this" {
  function_name      = aws_lambda_function.this.function_name
  qualifier          = aws_lambda_alias.this.name
  authorization_type = var.url_auth_type
  invoke_mode        = "BUFFERED"
}

# A public URL (auth type NONE) needs both statements since October 2025:
# InvokeFunctionUrl for the URL, and InvokeFunction restricted to calls that
# come through a function URL.
resource "aws_lambda_permission" "url_public" {
  #checkov:skip=CKV_AWS_301:only created when url_auth_type = "NONE" is chosen; the function is then public on purpose
  count = local.public_url ? 1 : 0

  statement_id           = "FunctionURLAllowPublicAccess"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this.function_name
  qualifier              = aws_lambda_alias.this.name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_permission" "url_invoke" {
  #checkov:skip=CKV_AWS_301:only created when url_auth_type = "NONE" is chosen; limited to calls made through the function URL
  count = local.public_url ? 1 : 0

  statement_id             = "FunctionURLInvokeAllowPublicAccess"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.this.function_name
  qualifier                = aws_lambda_alias.this.name
  principal                = "*"
  invoked_via_function_url = true
}
