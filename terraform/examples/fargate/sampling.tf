# An example X-Ray sampling rule for this service, which samples by X-Ray's rules on ECS
# (OTEL_TRACES_SAMPLER=xray): one GET /api/users/* a second, then 10 % of the rest.
# Everything else falls to the account's Default rule (1 a second, then 5 %). Rules are
# account-wide, so this one names the service and its type.
resource "aws_xray_sampling_rule" "users" {
  rule_name      = substr("${var.name}-users", 0, 32)
  priority       = 1000
  version        = 1
  reservoir_size = 1
  fixed_rate     = 0.1
  service_name   = lookup(var.app_environment, "OTEL_SERVICE_NAME", "axum-xray-otel")
  service_type   = "AWS::ECS::Container"
  host           = "*"
  http_method    = "GET"
  url_path       = "/api/users/*"
  resource_arn   = "*"
}
