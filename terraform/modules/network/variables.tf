variable "name" {
  type        = string
  description = "Name used for the VPC and as a prefix for its resources."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,30}$", var.name))
    error_message = "name must be 1-31 lowercase letters, digits or '-', starting with a letter or digit."
  }
}

variable "cidr_block" {
  type        = string
  description = "IPv4 CIDR of the VPC; split into two public and two private subnets of a sixteenth each."
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.cidr_block)) && tonumber(split("/", var.cidr_block)[1]) >= 16 && tonumber(split("/", var.cidr_block)[1]) <= 24
    error_message = "cidr_block must be an IPv4 CIDR between /16 and /24."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "The two availability zones to use, e.g. [\"eu-west-1a\", \"eu-west-1b\"]. Empty means the region's zones a and b."
  default     = []
  nullable    = false

  validation {
    condition     = length(var.availability_zones) == 0 || length(distinct(var.availability_zones)) == 2
    error_message = "availability_zones must be empty or name exactly two distinct zones."
  }
}

variable "enable_nat_gateway" {
  type        = bool
  description = "Create NAT gateways so tasks in the private subnets reach AWS APIs and the internet (EXTERNAL_URL). Without them, turn interface_endpoints on (and the app reaches no internet)."
  default     = true
  nullable    = false
}

variable "nat_gateway_per_az" {
  type        = bool
  description = "One NAT gateway per availability zone instead of one for both: twice the hourly cost, but a zone outage no longer cuts the other zone's egress."
  default     = false
  nullable    = false
}

variable "interface_endpoints" {
  type        = bool
  description = "Interface VPC endpoints for the AWS APIs the tasks call (X-Ray, CloudWatch Logs, ECR api and dkr, STS, SSM): AWS traffic stays off the NAT gateway and works without one. About 7 USD a month per endpoint and zone."
  default     = false
  nullable    = false
}

variable "flow_logs_retention_in_days" {
  type        = number
  description = "Days to keep the VPC flow logs."
  default     = 365
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
  nullable    = false
}
