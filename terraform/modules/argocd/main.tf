# Argo CD and the root Application that bootstraps everything else from git:
#
#   root Application  --syncs-->  generated/argocd/ (AppProject, Applications,
#                                 ApplicationSets of the System)
#   each Application  --syncs-->  generated/<env>/  (the environment)
#
# The root Application lives in its own bootstrap AppProject, which may only
# manage Argo CD's own kinds in Argo CD's namespace, from the gitops repo.
# The System's AppProject (generated) cannot widen itself: it is managed by
# the root Application, whose project only Terraform changes.
#
# The root Application has no resources finalizer and never prunes:
# deleting it, or an Application disappearing from git, must not cascade into
# deleting an environment.  Removing an environment is a deliberate manual step.

locals {
  root_name      = "${var.system}-root"
  bootstrap_name = "${var.system}-bootstrap"
  in_cluster     = "https://kubernetes.default.svc"
}

resource "helm_release" "argo_cd" {
  name             = "argo-cd"
  repository       = "https://argoproj.github.io/argo-helm"
  chart            = "argo-cd"
  version          = "8.5.0"
  namespace        = var.namespace
  create_namespace = true
  atomic           = true

  values = [yamlencode({
    configs = {
      cm = {
        # Annotation tracking: Argo CD does not overwrite the app.kubernetes.io
        # labels the generated manifests carry.
        "application.resourceTrackingMethod" = "annotation"
        # No local admin user: access goes through SSO.
        "admin.enabled" = false
      }
    }
  })]
}

resource "kubernetes_secret_v1" "repository" {
  count = var.repo_credentials == null ? 0 : 1

  metadata {
    name      = "${var.system}-gitops-repo"
    namespace = var.namespace
    labels = {
      "argocd.argoproj.io/secret-type" = "repository"
    }
  }

  data = {
    type     = "git"
    url      = var.repo_url
    username = var.repo_credentials.username
    password = var.repo_credentials.password
  }

  depends_on = [helm_release.argo_cd]
}

resource "kubernetes_manifest" "bootstrap_project" {
  manifest = {
    apiVersion = "argoproj.io/v1alpha1"
    kind       = "AppProject"
    metadata = {
      name      = local.bootstrap_name
      namespace = var.namespace
      labels    = { "app.kubernetes.io/managed-by" = "terraform", "app.kubernetes.io/part-of" = var.system }
    }
    spec = {
      description  = "Bootstraps SpecOps system ${var.system}: only Argo CD's own objects, from ${var.repo_url}"
      sourceRepos  = [var.repo_url]
      destinations = [{ server = local.in_cluster, namespace = var.namespace }]
      # No cluster-scoped kinds at all.
      clusterResourceWhitelist = []
      namespaceResourceWhitelist = [
        { group = "argoproj.io", kind = "AppProject" },
        { group = "argoproj.io", kind = "Application" },
        { group = "argoproj.io", kind = "ApplicationSet" },
      ]
    }
  }

  depends_on = [helm_release.argo_cd]
}

resource "kubernetes_manifest" "root_application" {
  manifest = {
    apiVersion = "argoproj.io/v1alpha1"
    kind       = "Application"
    metadata = {
      name      = local.root_name
      namespace = var.namespace
      labels    = { "app.kubernetes.io/managed-by" = "terraform", "app.kubernetes.io/part-of" = var.system }
    }
    spec = {
      project = kubernetes_manifest.bootstrap_project.manifest.metadata.name
      source = {
        repoURL        = var.repo_url
        targetRevision = var.target_revision
        path           = var.path
        directory      = { recurse = false }
      }
      destination = { server = local.in_cluster, namespace = var.namespace }
      syncPolicy = {
        automated   = { prune = false, selfHeal = true }
        syncOptions = ["ServerSideApply=true"]
        retry = {
          limit   = 5
          backoff = { duration = "10s", factor = 2, maxDuration = "3m" }
        }
      }
    }
  }
}
