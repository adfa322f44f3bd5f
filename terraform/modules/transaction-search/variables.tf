variable "indexing_percentage" {
  type        = number
  description = "Percentage of ingested spans X-Ray indexes as trace summaries (searchable in the X-Ray trace views). The first 1% is free; every span is in aws/spans either way."
  default     = 1
  nullable    = false

  validation {
    condition     = var.indexing_percentage >= 0 && var.indexing_percentage <= 100
    error_message = "indexing_percentage must be from 0 to 100."
  }
}

variable "policy_name" {
  type        = string
  description = "Name of the CloudWatch Logs resource policy that lets X-Ray write spans (an account has at most 10 such policies per region)."
  default     = "xray-transaction-search"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,255}$", var.policy_name))
    error_message = "policy_name must be 1-255 letters, digits, '_', '.' or '-'."
  }
}
