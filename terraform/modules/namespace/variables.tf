variable "name" {
  type        = string
  description = "The namespace's name."
}

variable "labels" {
  type        = map(string)
  description = "The namespace's labels (as in the generated Namespace manifest)."
}

variable "production" {
  type        = bool
  description = "Whether the environment is production (then kube_context must be explicit)."
}

variable "kube_context" {
  type        = string
  description = "The kubeconfig context the apply uses; null for the current one."
  default     = null
}
