output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "public_subnet_ids" {
  description = "IDs of the two public subnets (for the load balancer)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "IDs of the two private subnets (for the tasks)."
  value       = aws_subnet.private[*].id
}

output "nat_gateway_public_ip" {
  description = "Public IP the tasks' outbound traffic comes from (the first zone's with nat_gateway_per_az), or null without a NAT gateway."
  value       = var.enable_nat_gateway ? aws_eip.nat[0].public_ip : null
}

output "nat_gateway_public_ips" {
  description = "Public IPs of every NAT gateway (one, or one per zone)."
  value       = aws_eip.nat[*].public_ip
}
