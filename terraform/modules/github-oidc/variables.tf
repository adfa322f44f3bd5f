variable "repository" {
  type        = string
  description = "GitHub repository allowed to assume the role, as owner/name."

  validation {
    condition     = can(regex("^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$", var.repository))
    error_message = "repository must be owner/name, e.g. octo-org/axum-xray-otel."
  }
}

variable "subject_prefix" {
  type        = string
  description = "First part of the OIDC sub claim. \"repo\" is GitHub's default; change it if the repository uses a customised (e.g. id-based) subject template."
  default     = "repo"
  nullable    = false

  validation {
    condition     = length(var.subject_prefix) > 0 && !strcontains(var.subject_prefix, "*")
    error_message = "subject_prefix must be non-empty and contain no wildcard."
  }
}

variable "github_environment" {
  type        = string
  description = "GitHub environment whose jobs may assume the role (sub = <prefix>:<repo>:environment:<env>). Exactly one of github_environment and branch must be set."
  default     = null

  validation {
    condition     = (var.github_environment == null) != (var.branch == null)
    error_message = "Set exactly one of github_environment and branch."
  }

  validation {
    condition     = var.github_environment == null || can(regex("^[^*?:]{1,255}$", var.github_environment))
    error_message = "github_environment must be a plain name without wildcards or ':'."
  }
}

variable "branch" {
  type        = string
  description = "Branch whose workflow runs may assume the role (sub = <prefix>:<repo>:ref:refs/heads/<branch>), when no environment is used."
  default     = null

  validation {
    condition     = var.branch == null || can(regex("^[^*?:]{1,255}$", var.branch))
    error_message = "branch must be a plain branch name without wildcards or ':'."
  }
}

variable "role_name" {
  type        = string
  description = "Name of the deploy role."

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be 1-64 characters of letters, digits and +=,.@_-."
  }
}

variable "policy_documents" {
  type        = list(string)
  description = "IAM policy documents (JSON) granting what this target's deploy needs, e.g. module.ecr.push_policy_json."

  validation {
    condition     = length(var.policy_documents) > 0
    error_message = "policy_documents needs at least one document."
  }
}

variable "oidc_provider_arn" {
  type        = string
  description = "ARN of the account's existing GitHub OIDC provider. Null creates it (only one may exist per account)."
  default     = null

  validation {
    condition     = var.oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be the ARN of the token.actions.githubusercontent.com OIDC provider."
  }
}

variable "max_session_duration" {
  type        = number
  description = "Maximum session length of the role in seconds."
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be between 3600 and 43200 seconds."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to the role and the provider."
  default     = {}
  nullable    = false
}
