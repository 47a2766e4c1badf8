variable "name" {
  type        = string
  description = "The bucket's name (from the System spec's artifacts.uri)."
}

variable "noncurrent_version_retention_days" {
  type        = number
  description = "Days an overwritten object version is kept."
}
