variable "name" {
  type        = string
  description = "Name of the capacity provider (and prefix of its operator role)."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets for the instances, in at least two availability zones; they need egress to X-Ray, CloudWatch Logs and whatever the function calls."
}

variable "security_group_ids" {
  type        = list(string)
  description = "Security groups of the instances (egress only is enough for this service)."
}

variable "architecture" {
  type        = string
  description = "arm64 or x86_64; the function's architecture must match."
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "max_vcpu_count" {
  type        = number
  description = "The most vCPUs the provider may run: the cap on cost and on scale-out."
  default     = 16

  validation {
    condition     = var.max_vcpu_count >= 2
    error_message = "max_vcpu_count must be at least 2."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource."
  default     = {}
}
