resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_76:the web ACL has KnownBadInputs (Log4j lookups); the check also wants AnonymousIpList, which blocks every client hosted in a cloud, where API callers run
  name                       = substr(var.name, 0, 32)
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  # Shorter than the app's IDLE_TIMEOUT_SECS (precondition on the task definition).
  idle_timeout = var.alb_idle_timeout

  dynamic "access_logs" {
    for_each = local.access_logs_bucket == null ? [] : [local.access_logs_bucket]

    content {
      bucket  = access_logs.value
      prefix  = local.access_logs_prefix
      enabled = true
    }
  }

  tags = var.tags

  # The ALB checks that it may write to the bucket when access logs are turned on.
  depends_on = [aws_s3_bucket_policy.access_logs]
}

resource "aws_lb_target_group" "this" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; ALB-to-task traffic stays inside the VPC, limited by security groups
  name_prefix          = "app-"
  port                 = var.container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = var.deregistration_delay

  health_check {
    path                = "/health"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = var.deregistration_delay < var.stop_timeout
      error_message = "deregistration_delay must be shorter than stop_timeout so requests drain before the task stops."
    }
    # ECS sends SIGTERM only after the deregistration delay: a request the ALB
    # sent just before deregistering must be able to finish in it.
    precondition {
      condition     = var.deregistration_delay >= local.request_timeout
      error_message = "deregistration_delay must be at least REQUEST_TIMEOUT_SECS (the longest request)."
    }
  }
}

# Without a certificate the listener serves plain HTTP (only with
# allow_insecure_http, see the certificate_arn validation); with one it only
# redirects to HTTPS.
resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:with certificate_arn this listener only redirects to HTTPS; plain HTTP needs the explicit waiver allow_insecure_http
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = local.https ? "redirect" : "forward"
    target_group_arn = local.https ? null : aws_lb_target_group.this.arn

    dynamic "redirect" {
      for_each = local.https ? [1] : []

      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = var.tags
}

resource "aws_security_group" "alb" {
  name_prefix = "${var.name}-alb-"
  description = "Load balancer of ${var.name}: HTTP(S) in from the allowed CIDRs, out to the tasks only"
  vpc_id      = var.vpc_id
  tags        = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:the ALB is the public entry point; port 80 serves or redirects to HTTPS
  for_each = toset(var.alb_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTP from ${each.value}"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = local.https ? toset(var.alb_ingress_cidrs) : toset([])

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from ${each.value}"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the tasks' container port"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
}

resource "aws_security_group" "tasks" {
  name_prefix = "${var.name}-tasks-"
  description = "Tasks of ${var.name}: in from the ALB only, out over HTTPS"
  vpc_id      = var.vpc_id
  tags        = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "Container port from the ALB"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
}

# ECR, CloudWatch Logs, SSM, X-Ray and EXTERNAL_URL are all HTTPS endpoints.
resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to AWS APIs and the external URL"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}
