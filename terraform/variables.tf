# Variables set by the compiler: generated/terraform/<env>.auto.tfvars.json
# (from the System spec; a test keeps these types and that file in step).

variable "system" {
  type        = string
  description = "The System spec's name (metadata.name)."
}

variable "environment" {
  type        = string
  description = "The cloud environment this state provisions (System spec environments[].name)."
}

variable "namespace" {
  type        = string
  description = "The environment's Kubernetes namespace (environments[].namespace)."
}

variable "namespace_labels" {
  type        = map(string)
  description = "Labels of the namespace, identical to the generated Namespace manifest (Pod Security included)."
}

variable "production" {
  type        = bool
  description = "Whether the environment is production (environments[].production)."
}

variable "cluster" {
  type        = string
  description = "The environment's cluster as Argo CD names it: in-cluster, an API server URL or a registered cluster name."
}

variable "gitops" {
  type = object({
    repo_url         = string
    target_revision  = string
    path             = string
    argocd_path      = string
    argocd_namespace = string
  })
  description = "The git repository Argo CD watches (spec.gitops), the folder of the generated Argo CD manifests and Argo CD's namespace."
}

variable "runtime_image" {
  type = object({
    repository = string
    reference  = string
  })
  description = "The runtime image (spec.runtime): its repository and the pinned reference every step runs."
}

variable "artifact_bucket" {
  type = object({
    name   = string
    prefix = string
  })
  description = "The S3 bucket of spec.artifacts.uri; null when artifacts are not on S3."
  default     = null
}

variable "secrets" {
  type = list(object({
    name = string
    keys = list(string)
    type = string
  }))
  description = "The Kubernetes Secrets (names and keys only) the specs reference; values come from secret_values."
}

variable "install_addons" {
  type        = bool
  description = "Install the cluster add-ons (cert-manager, Argo Workflows, Knative Serving, KServe): true for the first environment of each cluster."
}

variable "install_argocd" {
  type        = bool
  description = "Install Argo CD and the root Application: true for exactly one environment, in Argo CD's own cluster."
}

variable "manage_artifact_bucket" {
  type        = bool
  description = "Create the artifact bucket: true for exactly one environment (the same as install_argocd) when artifacts are on S3."
}

# Secret inputs: never in git.  Set them through the environment
# (TF_VAR_secret_values='{"review-db":{"dsn":"..."}}') or a secret manager.

variable "secret_values" {
  type        = map(map(string))
  description = "Secret input: the value of every referenced Secret key, as { secret name = { key = value } }. Never commit it."
  sensitive   = true
}

variable "gitops_repo_credentials" {
  type = object({
    username = string
    password = string
  })
  description = "Secret input: credentials Argo CD uses to read a private gitops repository; null for a public one."
  sensitive   = true
  default     = null
}

# Operator inputs with defaults.

variable "kubeconfig_path" {
  type        = string
  description = "The kubeconfig of the environment's cluster."
  default     = "~/.kube/config"
}

variable "kube_context" {
  type        = string
  description = "The kubeconfig context of the environment's cluster; null for the current context."
  default     = null
}

variable "aws_region" {
  type        = string
  description = "The AWS region of the artifact bucket; null for AWS_REGION from the environment."
  default     = null
}

variable "noncurrent_version_retention_days" {
  type        = number
  description = "Days an overwritten artifact version is kept (releases point at immutable URIs, so only stray overwrites expire)."
  default     = 90

  validation {
    condition     = var.noncurrent_version_retention_days >= 30
    error_message = "noncurrent_version_retention_days must be at least 30, so an accidental overwrite can be recovered."
  }
}
