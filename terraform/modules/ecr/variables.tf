variable "name" {
  type        = string
  description = "Name of the repository."

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.name)) && length(var.name) <= 256
    error_message = "name must be a valid ECR repository name (lowercase, digits, '.', '_', '-', '/')."
  }
}

variable "keep_images" {
  type        = number
  description = "Number of images kept by the lifecycle policy; older ones expire."
  default     = 30

  validation {
    condition     = var.keep_images >= 1 && var.keep_images <= 1000 && floor(var.keep_images) == var.keep_images
    error_message = "keep_images must be a whole number between 1 and 1000."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of a KMS key to encrypt images with. When null, the AWS managed key aws/ecr is used."
  default     = null
}

variable "force_delete" {
  type        = bool
  description = "Let terraform destroy delete the repository while it still holds images."
  default     = false
  nullable    = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to the repository."
  default     = {}
  nullable    = false
}
