variable "name" {
  type        = string
  description = "Name of the log group, e.g. /ecs/axum-xray-otel or /aws/lambda/axum-xray-otel."

  validation {
    condition     = can(regex("^[A-Za-z0-9_/.#-]{1,512}$", var.name))
    error_message = "A log group name is 1-512 characters of letters, digits, '_', '-', '/', '.' and '#'."
  }
}

variable "retention_in_days" {
  type        = number
  description = "Days to keep log events. One year by default, the usual minimum for audit."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.retention_in_days)
    error_message = "retention_in_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, ... 3653); 0 (never expire) is not allowed."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of an existing KMS key to encrypt the log group with. When null, the module creates a dedicated key with rotation enabled."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<id>)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to the log group and the key."
  default     = {}
  nullable    = false
}
