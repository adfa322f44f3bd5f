data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

# The zones are named explicitly (the region's a and b unless given), so the
# subnet layout never shifts when AWS adds a zone; the lookup fails the plan if
# one of them is not available to the account.
data "aws_availability_zones" "pinned" {
  state = "available"

  filter {
    name   = "zone-name"
    values = local.requested_azs
  }
}

locals {
  requested_azs = length(var.availability_zones) > 0 ? var.availability_zones : [for s in ["a", "b"] : "${data.aws_region.current.region}${s}"]
  azs           = sort(data.aws_availability_zones.pinned.names)
  # /16 -> four /20s: public subnets first, private subnets after.
  public_cidrs  = [for i in range(2) : cidrsubnet(var.cidr_block, 4, i)]
  private_cidrs = [for i in range(2) : cidrsubnet(var.cidr_block, 4, i + 2)]
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.name })
}

# Take over the default security group and leave it without rules, so nothing
# placed in it by mistake can talk to anything.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-default-deny" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = var.name })
}

# Public subnets hold the ALB and the NAT gateway only; nothing there needs an
# automatically assigned public IP.
resource "aws_subnet" "public" {
  count = 2

  vpc_id                  = aws_vpc.this.id
  cidr_block              = local.public_cidrs[count.index]
  availability_zone       = local.azs[count.index]
  map_public_ip_on_launch = false
  tags                    = merge(var.tags, { Name = "${var.name}-public-${local.azs[count.index]}", Tier = "public" })
}

resource "aws_subnet" "private" {
  count = 2

  vpc_id            = aws_vpc.this.id
  cidr_block        = local.private_cidrs[count.index]
  availability_zone = local.azs[count.index]
  tags              = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}", Tier = "private" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count = 2

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# Tasks need egress to ECR, X-Ray, CloudWatch Logs, SSM and the external URL
# the app calls. One NAT gateway (the default) costs half of two, but egress
# then depends on its zone: when that zone fails, tasks in the other one lose
# the external URL, and AWS APIs too unless interface endpoints serve them.
# nat_gateway_per_az gives each zone its own.
locals {
  nat_count = var.enable_nat_gateway ? (var.nat_gateway_per_az ? 2 : 1) : 0
}

resource "aws_eip" "nat" {
  count = local.nat_count

  domain = "vpc"
  tags   = merge(var.tags, { Name = "${var.name}-nat-${local.azs[count.index]}" })
}

resource "aws_nat_gateway" "this" {
  count = local.nat_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id
  tags          = merge(var.tags, { Name = "${var.name}-${local.azs[count.index]}" })

  depends_on = [aws_internet_gateway.this]
}

# One route table per private subnet, so each zone can use its own NAT gateway.
resource "aws_route_table" "private" {
  count = 2

  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}" })
}

# Stacks made when there was one private route table keep it as the first zone's.
moved {
  from = aws_route_table.private
  to   = aws_route_table.private[0]
}

resource "aws_route" "private_nat" {
  count = var.enable_nat_gateway ? 2 : 0

  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[min(count.index, local.nat_count - 1)].id
}

resource "aws_route_table_association" "private" {
  count = 2

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}
