output "url" {
  description = "Base URL of the service (the ALB DNS name, https when a certificate is set)."
  value       = "${local.https ? "https" : "http"}://${aws_lb.this.dns_name}"
}

output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Route 53 zone id of the load balancer, for an alias record."
  value       = aws_lb.this.zone_id
}

output "alb_arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "target_group_arn" {
  description = "ARN of the target group."
  value       = aws_lb_target_group.this.arn
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.this.name
}

output "service_arn" {
  description = "ARN of the ECS service."
  value       = local.service_arn
}

output "task_definition_family" {
  description = "Family of the task definition; the deploy registers new revisions of it."
  value       = aws_ecs_task_definition.this.family
}

output "app_container_name" {
  description = "Name of the application container in the task definition (the one whose image the deploy replaces)."
  value       = local.app_container
}

output "execution_role_arn" {
  description = "ARN of the task execution role."
  value       = aws_iam_role.execution.arn
}

output "task_role_arn" {
  description = "ARN of the task role."
  value       = aws_iam_role.task.arn
}

output "tasks_security_group_id" {
  description = "Security group of the tasks."
  value       = aws_security_group.tasks.id
}

output "alb_security_group_id" {
  description = "Security group of the load balancer."
  value       = aws_security_group.alb.id
}

output "log_group_name" {
  description = "Log group of the application and collector containers (stream prefixes app/ and aws-otel-collector/)."
  value       = module.logs.name
}

output "collector_config_parameter_name" {
  description = "SSM parameter holding the collector configuration (null when trace_export is direct)."
  value       = one(aws_ssm_parameter.collector_config[*].name)
}

output "deploy_policy_json" {
  description = "IAM policy document with what a CI role needs to deploy a new image to this service."
  value       = data.aws_iam_policy_document.deploy.json
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the service."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Alarms that notify alarm_topic_arn and roll deployments back (app 5xx rate, ALB target and ELB 5xx rates, unhealthy and no healthy targets, p99 latency)."
  value       = local.rollback_alarms
}

output "telemetry_alarm_names" {
  description = "Alarms that only notify alarm_topic_arn: telemetry the app lost (spans dropped, span or metric exports failed) and, with the collector, ALB traffic without app metrics."
  value       = concat([for k in sort(keys(local.telemetry_loss)) : aws_cloudwatch_metric_alarm.telemetry_loss[k].alarm_name], aws_cloudwatch_metric_alarm.telemetry_silent[*].alarm_name)
}
