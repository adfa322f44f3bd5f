# The binary's environment, written once for both targets so the Fargate task
# and the Lambda function cannot drift apart. Values are the binary's defaults,
# spelled out so the deployed configuration is readable in the console.
locals {
  defaults = {
    APP_TARGET = var.target
    PORT       = "8080"
    # One budget for the drain and both telemetry flushes; below the ECS stopTimeout.
    SHUTDOWN_TIMEOUT_SECS = "25"
    REQUEST_TIMEOUT_SECS  = "15"
    # Keep-alive idle timeout: longer than the ALB's (60 s), so the ALB always closes first.
    IDLE_TIMEOUT_SECS = "75"
    # Requests served at once; the next ones get 503 at once instead of queueing.
    MAX_IN_FLIGHT_REQUESTS      = "1024"
    USERS_LATENCY_MS            = "100"
    EXTERNAL_URL                = "https://httpbin.org/delay/1"
    EXTERNAL_TIMEOUT_MS         = "3000"
    LOG_FORMAT                  = "json"
    RUST_LOG                    = "info"
    TRACE_HEALTH_CHECKS         = "false"
    LAMBDA_FLUSH_TIMEOUT_MS     = "300"
    DYNAMODB_TIMEOUT_MS         = "1000"
    EVENTS_TIMEOUT_MS           = "1000"
    OTEL_SERVICE_NAME           = var.service_name
    OTEL_EXPORTER_OTLP_ENDPOINT = "http://localhost:4318"
    OTEL_EXPORTER_OTLP_PROTOCOL = "http/protobuf"
    OTEL_TRACES_EXPORTER        = "otlp"
    # Lambda writes EMF lines (no collector needed); ECS sends OTLP to the sidecar's awsemf.
    OTEL_METRICS_EXPORTER = var.target == "lambda" ? "emf" : "otlp"
    # The CloudWatch namespace the dashboards and alarms read (modules read it back from here).
    METRICS_NAMESPACE        = var.service_name
    OTEL_TRACES_SAMPLER      = "parentbased_always_on"
    OTEL_PROPAGATORS         = "xray,tracecontext"
    OTEL_RESOURCE_ATTRIBUTES = "deployment.environment.name=${var.deployment_environment}"
  }

  # Without a table the binary keeps users in process.
  users_table = var.users_table == null ? {} : {
    USERS_TABLE = var.users_table
  }

  # Without a queue POST /api/events answers 404.
  events_queue = var.events_queue_url == null ? {} : {
    EVENTS_QUEUE_URL = var.events_queue_url
  }

  variables = merge(local.defaults, local.users_table, local.events_queue, var.overrides)
}
