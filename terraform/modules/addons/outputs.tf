output "charts" {
  description = "The installed charts and their pinned versions."
  value = {
    for r in [helm_release.cert_manager, helm_release.argo_workflows, helm_release.knative_operator, helm_release.kserve_crd, helm_release.kserve] :
    r.name => r.version
  }
}
