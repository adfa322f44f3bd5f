terraform {
  # 1.9: validation blocks may refer to other variables.
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # One floor for every module: 6.29 added invoked_via_function_url
      # (aws_lambda_permission), which public function URLs need.
      version = "~> 6.29"
    }
  }
}
