output "namespace" {
  description = "The environment's namespace."
  value       = module.namespace.name
}

output "argocd_destination" {
  description = "The cluster as the generated Application names it; a remote one must be registered in Argo CD under this name or URL."
  value       = var.cluster
}

output "runtime_image" {
  description = "The runtime image the environment's generated manifests run (spec.runtime, pinned by digest in production)."
  value       = var.runtime_image.reference
}

output "secrets" {
  description = "The Secrets created in the namespace (names only)."
  value       = module.secrets.names
}

output "artifact_bucket_arn" {
  description = "The artifact bucket's ARN, when this environment manages it."
  value       = one(module.artifact_bucket[*].arn)
}

output "root_application" {
  description = "The Argo CD root Application that syncs the generated Argo CD manifests, when this environment installs Argo CD."
  value       = one(module.argocd[*].root_application)
}
