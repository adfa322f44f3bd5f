# Metrics, dashboard and the alarms that guard deployments.
#
# The function writes one EMF line per invocation (no collector involved), so
# CloudWatch keeps every value and percentiles of our own metrics work.
# Lambda's own metrics (duration, throttles, concurrency) come from AWS/Lambda;
# init duration only exists in the REPORT log lines, hence the Logs Insights
# widget. tests/metrics_catalog.rs checks every custom metric and dimension
# set named here against the EMF lines the function really writes.

locals {
  metrics_namespace = module.app_environment.variables["METRICS_NAMESPACE"]
  service           = module.app_environment.variables["OTEL_SERVICE_NAME"]
  alarm_actions     = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]

  # Telemetry the SDK lost, summed over error.type whatever its values (Metrics
  # Insights: an alarm cannot name dimension values it does not know).
  telemetry_loss = {
    spans-dropped = {
      metric = "otel.sdk.processor.span.processed"
      what   = "spans dropped before export (the queue was full)"
    }
    span-exports-failed = {
      metric = "otel.sdk.exporter.span.exported"
      what   = "spans whose export failed"
    }
    metric-exports-failed = {
      metric = "otel.sdk.exporter.metric_data_point.exported"
      what   = "metric data points whose export failed"
    }
  }
  loss_schema = "SCHEMA(\"${local.metrics_namespace}\", \"error.type\", \"function_name\", \"service\") WHERE \"service\" = '${local.service}' AND \"function_name\" = '${var.function_name}'"

  # AWS/Lambda's dimensions for invocations through the alias, by the version that ran them.
  version_dimensions = {
    FunctionName    = var.function_name
    Resource        = "${var.function_name}:${var.alias_name}"
    ExecutedVersion = aws_lambda_function.this.version
  }
  # What deploy-lambda.sh watches during a canary (--alarms), and of those, the
  # ones it points at the new version first (--version-alarms).
  canary_alarms  = [aws_cloudwatch_metric_alarm.version_errors.alarm_name, aws_cloudwatch_metric_alarm.server_errors.alarm_name, aws_cloudwatch_metric_alarm.latency.alarm_name]
  version_alarms = [aws_cloudwatch_metric_alarm.version_errors.alarm_name]

  class_by_route = { for class in ["4xx", "5xx"] : class => "SEARCH('{${local.metrics_namespace},service,function_name,http.route,http.response.status_class} MetricName=\"http.server.request.duration\" service=\"${local.service}\" function_name=\"${var.function_name}\" http.response.status_class=\"${class}\"', 'SampleCount', 60)" }
  aws_calls      = "SEARCH('{${local.metrics_namespace},service,function_name,rpc.service,rpc.method} MetricName=\"rpc.client.call.duration\" service=\"${local.service}\" function_name=\"${var.function_name}\"', 'p99', 60)"
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.function_name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title = "Requests per minute", region = local.region, stat = "SampleCount", period = 60
          metrics = [
            [local.metrics_namespace, "http.server.request.duration", "service", local.service, "function_name", var.function_name, { label = "requests" }],
            [local.metrics_namespace, "ColdStart", "service", local.service, "function_name", var.function_name, { stat = "Sum", label = "cold starts" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title = "Request latency", region = local.region, period = 60
          metrics = [
            [local.metrics_namespace, "http.server.request.duration", "service", local.service, "function_name", var.function_name, { stat = "p50", label = "p50" }],
            [local.metrics_namespace, "http.server.request.duration", "service", local.service, "function_name", var.function_name, { stat = "p99", label = "p99" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "4xx per minute by route", region = local.region, period = 60
          metrics = [[{ expression = local.class_by_route["4xx"], id = "e4", label = "" }]]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title   = "5xx per minute by route", region = local.region, period = 60
          metrics = [[{ expression = local.class_by_route["5xx"], id = "e5", label = "" }]]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title   = "DynamoDB call duration (p99)", region = local.region, period = 60
          metrics = [[{ expression = local.aws_calls, id = "d", label = "" }]]
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title = "Lambda duration", region = local.region, period = 60
          metrics = [
            ["AWS/Lambda", "Duration", "FunctionName", var.function_name, { stat = "p50", label = "p50" }],
            ["AWS/Lambda", "Duration", "FunctionName", var.function_name, { stat = "p99", label = "p99" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 18, width = 12, height = 6
        properties = {
          title = "Errors, throttles and concurrency", region = local.region, period = 60
          metrics = [
            ["AWS/Lambda", "Throttles", "FunctionName", var.function_name, { stat = "Sum" }],
            ["AWS/Lambda", "Errors", "FunctionName", var.function_name, { stat = "Sum" }],
            ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", var.function_name, { stat = "Maximum" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 24, width = 12, height = 6
        properties = {
          title   = "Errors and throttles by version (through the alias)", region = local.region, period = 60, stat = "Sum"
          metrics = [for m in ["Errors", "Throttles", "Invocations"] : [{ expression = "SEARCH('{AWS/Lambda,FunctionName,Resource,ExecutedVersion} MetricName=\"${m}\" FunctionName=\"${var.function_name}\" Resource=\"${var.function_name}:${var.alias_name}\"', 'Sum', 60)", id = lower(m), label = m }]]
        }
      },
      {
        type = "metric", x = 12, y = 24, width = 12, height = 6
        properties = {
          title = "Telemetry lost per 5 minutes, by error.type", region = local.region, period = 300, stat = "Sum"
          metrics = [for k, v in local.telemetry_loss : [{
            expression = "SELECT SUM(\"${v.metric}\") FROM ${local.loss_schema} GROUP BY \"error.type\""
            id         = replace(k, "-", "_")
            label      = k
          }]]
        }
      },
      {
        type = "log", x = 12, y = 18, width = 12, height = 6
        properties = {
          title  = "Init duration (cold starts, from REPORT lines)"
          region = local.region
          query  = "SOURCE '${module.logs.name}' | filter @type = \"REPORT\" and ispresent(@initDuration) | stats count() as coldstarts, avg(@initDuration) as avg_ms, pct(@initDuration, 99) as p99_ms by bin(5m)"
          view   = "timeSeries"
        }
      },
    ]
  })
}

# The share of 5xx answers; a canary that trips it is rolled back by deploy-lambda.sh.
resource "aws_cloudwatch_metric_alarm" "server_errors" {
  alarm_name          = "${var.function_name}-5xx-rate"
  alarm_description   = "More than ${var.alarm_5xx_percent}% of requests answered 5xx."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_5xx_percent
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = "IF(total > 0, 100 * FILL(errors, 0) / total, 0)"
    label       = "5xx %"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "http.server.request.duration"
      dimensions  = { "service" = local.service, "function_name" = var.function_name, "http.response.status_class" = "5xx" }
      stat        = "SampleCount"
      period      = 60
    }
  }

  metric_query {
    id = "total"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "http.server.request.duration"
      dimensions  = { "service" = local.service, "function_name" = var.function_name }
      stat        = "SampleCount"
      period      = 60
    }
  }

  tags = var.tags
}

# The version under test, alone. During a canary the alias serves two
# versions, and the function-wide 5xx rate dilutes a failing canary by the
# share it gets (a canary failing 40% of its 10% reads 4%); a version whose
# init crashes writes no EMF at all. Lambda's own counts, by ExecutedVersion
# under the alias, see both: failed invocations (init crashes, panics,
# timeouts) and throttles, as a share of what reached that version; with the
# version's own 5xx answers from its EMF lines (function_version).
# deploy-lambda.sh --version-alarms points ExecutedVersion at each version it
# publishes (and the deploy policy may do only that, on this alarm only), so
# Terraform leaves the metric queries alone after creating them.
resource "aws_cloudwatch_metric_alarm" "version_errors" {
  alarm_name          = "${var.function_name}-${var.alias_name}-version-errors"
  alarm_description   = "More than ${var.alarm_5xx_percent}% of the invocations of the version under test (ExecutedVersion) failed, were throttled or answered 5xx."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_5xx_percent
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  # No invocation of the new version in a minute is no evidence either way:
  # the canary's share of a quiet alias can be zero.
  treat_missing_data = "notBreaching"
  alarm_actions      = local.alarm_actions
  ok_actions         = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = "IF(FILL(invocations, 0) + FILL(throttles, 0) > 0, 100 * (FILL(errors, 0) + FILL(throttles, 0) + FILL(app_5xx, 0)) / (FILL(invocations, 0) + FILL(throttles, 0)), 0)"
    label       = "failed, throttled or 5xx % of the version"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = local.version_dimensions
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "throttles"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Throttles"
      dimensions  = local.version_dimensions
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "invocations"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Invocations"
      dimensions  = local.version_dimensions
      stat        = "Sum"
      period      = 60
    }
  }

  # The version's own 5xx answers, from its EMF lines (function_version): an
  # invocation that answers 500 is no Lambda error.
  metric_query {
    id = "app_5xx"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "http.server.request.duration"
      dimensions  = { "service" = local.service, "function_name" = var.function_name, "function_version" = aws_lambda_function.this.version, "http.response.status_class" = "5xx" }
      stat        = "SampleCount"
      period      = 60
    }
  }

  tags = var.tags

  lifecycle {
    ignore_changes = [metric_query]
  }
}

# Telemetry loss notifies (alarm_topic_arn); it is no reason to roll a
# version back, its requests were served. No data: nothing lost.
resource "aws_cloudwatch_metric_alarm" "telemetry_loss" {
  for_each = local.telemetry_loss

  alarm_name          = "${var.function_name}-telemetry-${each.key}"
  alarm_description   = "The function lost telemetry: ${each.value.what} (${each.value.metric} with error.type)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "lost"
    expression  = "SELECT SUM(\"${each.value.metric}\") FROM ${local.loss_schema}"
    label       = each.value.what
    period      = 300
    return_data = true
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "latency" {
  alarm_name          = "${var.function_name}-p99-latency"
  alarm_description   = "p99 request duration above ${var.alarm_p99_seconds} s."
  namespace           = local.metrics_namespace
  metric_name         = "http.server.request.duration"
  dimensions          = { "service" = local.service, "function_name" = var.function_name }
  extended_statistic  = "p99"
  period              = 60
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_p99_seconds
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}
