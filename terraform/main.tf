# The platform of one cloud environment: applied once per environment, each
# with its own state and generated/terraform/<env>.auto.tfvars.json.

module "namespace" {
  source = "./modules/namespace"

  name         = var.namespace
  labels       = var.namespace_labels
  production   = var.production
  kube_context = var.kube_context
}

module "secrets" {
  source = "./modules/secrets"

  namespace = module.namespace.name
  secrets   = var.secrets
  values    = var.secret_values
}

module "artifact_bucket" {
  source = "./modules/artifact-bucket"
  count  = var.manage_artifact_bucket && var.artifact_bucket != null ? 1 : 0

  name                              = try(var.artifact_bucket.name, "")
  noncurrent_version_retention_days = var.noncurrent_version_retention_days
}

module "addons" {
  source = "./modules/addons"
  count  = var.install_addons ? 1 : 0
}

module "argocd" {
  source = "./modules/argocd"
  count  = var.install_argocd ? 1 : 0

  system           = var.system
  namespace        = var.gitops.argocd_namespace
  repo_url         = var.gitops.repo_url
  target_revision  = var.gitops.target_revision
  path             = var.gitops.argocd_path
  repo_credentials = var.gitops_repo_credentials
}
