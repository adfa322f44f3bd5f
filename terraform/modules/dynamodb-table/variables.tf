variable "name" {
  type        = string
  description = "Name of the table (USERS_TABLE)."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.name))
    error_message = "A table name is 3-255 letters, digits, '_', '.' or '-'."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse DeleteTable (and so terraform destroy) until this is set to false."
  default     = true
  nullable    = false
}

variable "kms_key_arn" {
  type        = string
  description = "Customer managed KMS key for encryption at rest; null uses the AWS managed key aws/dynamodb."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<id>)."
  }
}

variable "max_read_request_units" {
  type        = number
  description = "Maximum read request units per second of the on-demand table; null leaves reads unbounded."
  default     = 1000

  validation {
    condition     = var.max_read_request_units == null || try(var.max_read_request_units >= 1, false)
    error_message = "max_read_request_units must be at least 1, or null."
  }
}

variable "max_write_request_units" {
  type        = number
  description = "Maximum write request units per second of the on-demand table; null leaves writes unbounded."
  default     = 1000

  validation {
    condition     = var.max_write_request_units == null || try(var.max_write_request_units >= 1, false)
    error_message = "max_write_request_units must be at least 1, or null."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to the table."
  default     = {}
  nullable    = false
}
