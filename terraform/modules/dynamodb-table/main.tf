# The users table: `id` (number) is the partition key; the service reads with
# GetItem and writes with PutItem/BatchWriteItem, so no index is needed.
resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV_AWS_119:encrypted with the AWS managed key aws/dynamodb unless kms_key_arn names a customer managed key; that key's policy must then allow DynamoDB (kms:ViaService)
  name                        = var.name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = var.deletion_protection

  # On demand scales without a bound unless given one: these cap what a
  # runaway client (or a retry storm) can read and write, and so what it costs.
  # Requests above them are throttled and the app answers 503.
  dynamic "on_demand_throughput" {
    for_each = var.max_read_request_units == null && var.max_write_request_units == null ? [] : [1]

    content {
      max_read_request_units  = var.max_read_request_units
      max_write_request_units = var.max_write_request_units
    }
  }

  attribute {
    name = "id"
    type = "N"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}
