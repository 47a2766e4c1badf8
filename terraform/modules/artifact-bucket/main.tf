# The artifact bucket: model files, edge bundles and data snapshots that
# ModelRelease resources point at by immutable URI and sha256.  Losing or
# silently changing an object breaks a release, hence versioning, no public
# access, encryption with a rotated key, TLS only, and prevent_destroy.

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "this" {
  description         = "Encrypts the SpecOps artifact bucket ${var.name}"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.key.json
}

# The account administers the key (the default key policy, made explicit);
# IAM policies grant use to the pipelines' roles.
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:A KMS key policy's "*" resource is this key only; granting the account root kms:* is AWS's default key policy, so IAM governs access.
  #checkov:skip=CKV_AWS_111:A KMS key policy's "*" resource is this key only; granting the account root kms:* is AWS's default key policy, so IAM governs access.
  #checkov:skip=CKV_AWS_356:A KMS key policy's "*" resource is this key only; granting the account root kms:* is AWS's default key policy, so IAM governs access.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is an organisation-level disaster-recovery choice; versioning and prevent_destroy protect the artifacts here.
  #checkov:skip=CKV_AWS_18:Access logs go to an organisation-wide log bucket (CloudTrail data events), which this module does not own.
  #checkov:skip=CKV2_AWS_62:No consumer of bucket event notifications: releases are discovered through git, never through bucket events.
  bucket = var.name

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  # Current versions are never expired: releases point at them.
  rule {
    id     = "expire-overwritten-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.tls_only.json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
