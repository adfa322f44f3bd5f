terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.29"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project   = "axum-xray-otel"
      Target    = "lambda"
      ManagedBy = "terraform"
    }
  }
}
