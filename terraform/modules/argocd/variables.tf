variable "system" {
  type        = string
  description = "The System spec's name; names the bootstrap project and the root Application."
}

variable "namespace" {
  type        = string
  description = "Argo CD's namespace (where the generated Applications live)."
}

variable "repo_url" {
  type        = string
  description = "The gitops repository."
}

variable "target_revision" {
  type        = string
  description = "The branch or tag Argo CD follows."
}

variable "path" {
  type        = string
  description = "The folder of the generated Argo CD manifests (AppProject, Applications, ApplicationSets)."
}

variable "repo_credentials" {
  type = object({
    username = string
    password = string
  })
  description = "Credentials for a private repository; null for a public one."
  sensitive   = true
  default     = null
}
