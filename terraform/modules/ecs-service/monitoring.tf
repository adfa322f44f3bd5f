# Metrics, dashboard and the alarms that guard deployments.
#
# The app sends delta OTLP metrics to the sidecar; its awsemf exporter writes
# them as EMF into the metrics log group with the dimension sets of
# config/ecs.yaml. awsemf sends a histogram as count/sum/min/max only, so
# percentiles come from the ALB's TargetResponseTime; request counts and the
# per-route status classes from http.server.request.duration.
# tests/metrics_catalog.rs checks every custom metric and dimension set named
# here against what the service emits.

locals {
  metrics_namespace = module.app_environment.variables["METRICS_NAMESPACE"]
  service           = module.app_environment.variables["OTEL_SERVICE_NAME"]
  alarm_actions     = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
  lb_dimensions     = ["LoadBalancer", aws_lb.this.arn_suffix, "TargetGroup", aws_lb_target_group.this.arn_suffix]

  # Requests of one status class, per route (CloudWatch SEARCH, so new routes appear by themselves).
  class_by_route = { for class in ["4xx", "5xx"] : class => "SEARCH('{${local.metrics_namespace},service.name,http.route,http.response.status_class} MetricName=\"http.server.request.duration\" service.name=\"${local.service}\" http.response.status_class=\"${class}\"', 'SampleCount', 60)" }
  aws_calls      = "SEARCH('{${local.metrics_namespace},service.name,rpc.service,rpc.method} MetricName=\"rpc.client.call.duration\" service.name=\"${local.service}\"', 'Average', 60)"

  # Every alarm that rolls a deployment back (aws_ecs_service alarms).
  rollback_alarms = concat(
    [aws_cloudwatch_metric_alarm.server_errors.alarm_name, aws_cloudwatch_metric_alarm.latency.alarm_name],
    [aws_cloudwatch_metric_alarm.target_5xx.alarm_name, aws_cloudwatch_metric_alarm.elb_5xx.alarm_name],
    [aws_cloudwatch_metric_alarm.unhealthy_hosts.alarm_name, aws_cloudwatch_metric_alarm.no_healthy_hosts.alarm_name],
  )

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
  loss_query = { for k, v in local.telemetry_loss : k => "SELECT SUM(\"${v.metric}\") FROM SCHEMA(\"${local.metrics_namespace}\", \"error.type\", \"service.name\") WHERE \"service.name\" = '${local.service}'" }

  container_metric = {
    for pair in setproduct(["ContainerCpuUtilized", "ContainerMemoryUtilized"], [local.app_container, local.collector_container]) :
    "${pair[0]}-${pair[1]}" => ["ECS/ContainerInsights", pair[0], "ClusterName", aws_ecs_cluster.this.name, "ServiceName", var.name, "ContainerName", pair[1]]
  }
}

module "metrics_logs" {
  source = "../log-group"

  name              = "/ecs/${var.name}/metrics"
  retention_in_days = var.log_retention_in_days
  kms_key_arn       = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title = "Requests per minute", region = local.region, stat = "SampleCount", period = 60
          metrics = [
            [local.metrics_namespace, "http.server.request.duration", "service.name", local.service, { label = "app" }],
            concat(["AWS/ApplicationELB", "RequestCount"], local.lb_dimensions, [{ stat = "Sum", label = "ALB" }]),
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title = "Latency (ALB target response time)", region = local.region, period = 60
          metrics = [
            concat(["AWS/ApplicationELB", "TargetResponseTime"], local.lb_dimensions, [{ stat = "p50", label = "p50" }]),
            concat(["AWS/ApplicationELB", "TargetResponseTime"], local.lb_dimensions, [{ stat = "p99", label = "p99" }]),
            [local.metrics_namespace, "http.server.request.duration", "service.name", local.service, { stat = "Average", label = "app average" }],
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
        type = "metric", x = 0, y = 18, width = 12, height = 6
        properties = {
          title = "5xx per minute: app, tasks (ALB), load balancer", region = local.region, period = 60
          metrics = [
            [local.metrics_namespace, "http.server.request.duration", "service.name", local.service, "http.response.status_class", "5xx", { stat = "SampleCount", label = "app 5xx" }],
            concat(["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"], local.lb_dimensions, [{ stat = "Sum", label = "target 5xx (ALB)" }]),
            ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", aws_lb.this.arn_suffix, { stat = "Sum", label = "ELB 5xx" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 18, width = 12, height = 6
        properties = {
          title = "Targets: healthy and unhealthy", region = local.region, stat = "Maximum", period = 60
          metrics = [
            concat(["AWS/ApplicationELB", "HealthyHostCount"], local.lb_dimensions, [{ stat = "Minimum", label = "healthy (min)" }]),
            concat(["AWS/ApplicationELB", "UnHealthyHostCount"], local.lb_dimensions, [{ label = "unhealthy (max)" }]),
          ]
        }
      },
      {
        type = "metric", x = 0, y = 24, width = 24, height = 6
        properties = {
          title = "Telemetry lost per 5 minutes, by error.type (spans dropped, span and metric exports failed)", region = local.region, period = 300, stat = "Sum"
          metrics = [for k, v in local.telemetry_loss : [{
            expression = "SELECT SUM(\"${v.metric}\") FROM SCHEMA(\"${local.metrics_namespace}\", \"error.type\", \"service.name\") WHERE \"service.name\" = '${local.service}' GROUP BY \"error.type\""
            id         = replace(k, "-", "_")
            label      = k
          }]]
        }
      },
      {
        type = "metric", x = 0, y = 30, width = 12, height = 6
        properties = {
          title = "Telemetry exported per 5 minutes (all outcomes)", region = local.region, period = 300, stat = "Sum"
          metrics = [for k, v in local.telemetry_loss : [{
            expression = "SELECT SUM(\"${v.metric}\") FROM SCHEMA(\"${local.metrics_namespace}\", \"service.name\") WHERE \"service.name\" = '${local.service}'"
            id         = "all_${replace(k, "-", "_")}"
            label      = v.metric
          }]]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title   = "DynamoDB call duration (average)", region = local.region, period = 60
          metrics = [[{ expression = local.aws_calls, id = "d", label = "" }]]
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title   = "CPU and memory by container (Container Insights, enhanced)", region = local.region, stat = "Average", period = 60
          metrics = [for key, metric in local.container_metric : concat(metric, [{ label = key }])]
        }
      },
    ]
  })
}

# The share of 5xx answers in the last minutes; a deployment that trips it rolls back.
resource "aws_cloudwatch_metric_alarm" "server_errors" {
  alarm_name          = "${var.name}-5xx-rate"
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
      dimensions  = { "service.name" = local.service, "http.response.status_class" = "5xx" }
      stat        = "SampleCount"
      period      = 60
    }
  }

  metric_query {
    id = "total"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "http.server.request.duration"
      dimensions  = { "service.name" = local.service }
      stat        = "SampleCount"
      period      = 60
    }
  }

  tags = var.tags
}

# What the app's own metric cannot see: a 5xx the task answered while the
# metrics pipeline was down, and every 502/503/504 the ALB makes itself (a task
# that closed a connection, no healthy target). Both as a share of the ALB's
# requests; no data means no 5xx.
resource "aws_cloudwatch_metric_alarm" "target_5xx" {
  alarm_name          = "${var.name}-target-5xx-rate"
  alarm_description   = "More than ${var.alarm_5xx_percent}% of the ALB's requests answered 5xx by the tasks."
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
    label       = "HTTPCode_Target_5XX_Count %"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = aws_lb.this.arn_suffix, TargetGroup = aws_lb_target_group.this.arn_suffix }
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "total"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = { LoadBalancer = aws_lb.this.arn_suffix, TargetGroup = aws_lb_target_group.this.arn_suffix }
      stat        = "Sum"
      period      = 60
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "elb_5xx" {
  alarm_name          = "${var.name}-elb-5xx-rate"
  alarm_description   = "More than ${var.alarm_5xx_percent}% of the ALB's requests answered 5xx by the load balancer itself."
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
    label       = "HTTPCode_ELB_5XX_Count %"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = { LoadBalancer = aws_lb.this.arn_suffix }
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "total"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = { LoadBalancer = aws_lb.this.arn_suffix }
      stat        = "Sum"
      period      = 60
    }
  }

  tags = var.tags
}

# A task failing its health check. The ALB reports both counts every minute
# while the target group is in use, so silence means the metric (or the target
# group) is gone: missing data breaches.
resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  alarm_name          = "${var.name}-unhealthy-hosts"
  alarm_description   = "A target of ${var.name} failed its ALB health checks, or the ALB reports no health at all."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = { LoadBalancer = aws_lb.this.arn_suffix, TargetGroup = aws_lb_target_group.this.arn_suffix }
  statistic           = "Maximum"
  period              = 60
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "no_healthy_hosts" {
  alarm_name          = "${var.name}-no-healthy-hosts"
  alarm_description   = "No target of ${var.name} passes its ALB health checks, or the ALB reports no health at all."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HealthyHostCount"
  dimensions          = { LoadBalancer = aws_lb.this.arn_suffix, TargetGroup = aws_lb_target_group.this.arn_suffix }
  statistic           = "Minimum"
  period              = 60
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# Telemetry loss notifies (alarm_topic_arn); it does not roll a deployment
# back, since the requests themselves were served. No data: nothing lost.
resource "aws_cloudwatch_metric_alarm" "telemetry_loss" {
  for_each = local.telemetry_loss

  alarm_name          = "${var.name}-telemetry-${each.key}"
  alarm_description   = "The app lost telemetry: ${each.value.what} (${each.value.metric} with error.type)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "lost"
    expression  = local.loss_query[each.key]
    label       = each.value.what
    period      = 300
    return_data = true
  }

  tags = var.tags
}

# The collector exporting into nothing: the ALB served requests for 5 minutes
# and no request metric of the app arrived (a crashed or misconfigured
# collector loses the app's metrics with its spans, so the SDK's own counts
# above cannot report it). A quiet ALB is not evidence: no data, no alarm.
resource "aws_cloudwatch_metric_alarm" "telemetry_silent" {
  count = local.collector ? 1 : 0

  alarm_name          = "${var.name}-telemetry-silent"
  alarm_description   = "The ALB served requests but no app metrics arrived: the collector sidecar is down or exports into nothing."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "silent"
    expression  = "IF(FILL(alb, 0) > 0 AND FILL(app, 0) == 0, 1, 0)"
    label       = "ALB requests without app metrics"
    return_data = true
  }

  metric_query {
    id = "alb"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = { LoadBalancer = aws_lb.this.arn_suffix, TargetGroup = aws_lb_target_group.this.arn_suffix }
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "app"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "http.server.request.duration"
      dimensions  = { "service.name" = local.service }
      stat        = "SampleCount"
      period      = 60
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "latency" {
  alarm_name          = "${var.name}-p99-latency"
  alarm_description   = "p99 target response time above ${var.alarm_p99_seconds} s."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = { LoadBalancer = aws_lb.this.arn_suffix, TargetGroup = aws_lb_target_group.this.arn_suffix }
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
