variable "knative_serving_version" {
  type        = string
  description = "The Knative Serving release the operator installs (one the pinned operator ships; upgrade one minor at a time)."
  default     = "1.22"
}
