# The users table: `id` (number) is the partition key; the service reads with
# GetItem and writes with PutItem/BatchWriteItem, so no index is needed.
resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV_AWS_119:encrypted with the AWS managed key aws/dynamodb unless kms_key_arn names a customer managed key; that key's policy must then allow DynamoDB (kms:ViaService)
  name                        = var.name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = var.deletion_protection

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
