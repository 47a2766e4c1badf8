output "arn" {
  description = "The bucket's ARN."
  value       = aws_s3_bucket.this.arn
}

output "kms_key_arn" {
  description = "The KMS key that encrypts the bucket."
  value       = aws_kms_key.this.arn
}
