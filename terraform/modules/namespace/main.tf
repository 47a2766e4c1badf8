# The environment's namespace, created before Argo CD's first sync so the
# Secrets have somewhere to live.  Argo CD also applies the generated
# Namespace manifest (same name and labels, server-side apply) and owns its
# metadata from then on, so Terraform ignores later label/annotation changes
# instead of fighting Argo CD's tracking metadata.
resource "kubernetes_namespace_v1" "this" {
  metadata {
    name   = var.name
    labels = var.labels
  }

  lifecycle {
    ignore_changes = [metadata[0].labels, metadata[0].annotations]

    # Every apply plans this resource, so the guard always runs.
    precondition {
      condition     = !var.production || var.kube_context != null
      error_message = "Environment namespace ${var.name} is production: set kube_context explicitly, so an apply never lands on whichever cluster is current."
    }
  }
}
