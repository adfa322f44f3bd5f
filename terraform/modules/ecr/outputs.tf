output "name" {
  description = "Name of the repository."
  value       = aws_ecr_repository.this.name
}

output "arn" {
  description = "ARN of the repository."
  value       = aws_ecr_repository.this.arn
}

output "repository_url" {
  description = "URL to tag and push images to (<account>.dkr.ecr.<region>.amazonaws.com/<name>)."
  value       = aws_ecr_repository.this.repository_url
}

output "push_policy_json" {
  description = "IAM policy document allowing to push images to this repository only, for the CI deploy role."
  value       = data.aws_iam_policy_document.push.json
}
