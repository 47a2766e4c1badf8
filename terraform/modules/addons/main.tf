# The cluster add-ons the generated manifests need, installed once per
# cluster with exact chart versions (an upgrade is a reviewed change here):
#
#   cert-manager    KServe's webhook certificates
#   argo-workflows  runs the generated WorkflowTemplates and CronWorkflows
#   knative         KServe's Serverless mode (the generated InferenceServices
#                   use canaryTrafficPercent, a Serverless-mode feature),
#                   through the Knative Operator and a KnativeServing resource
#   kserve          the InferenceService CRDs and controller
#
# The KnativeServing resource is a kubernetes_manifest, whose CRD must exist
# when Terraform plans it: the first apply of a new cluster targets the
# charts first (terraform/README.md, "First apply").

resource "helm_release" "cert_manager" {
  name             = "cert-manager"
  repository       = "https://charts.jetstack.io"
  chart            = "cert-manager"
  version          = "v1.16.2"
  namespace        = "cert-manager"
  create_namespace = true
  atomic           = true

  set {
    name  = "crds.enabled"
    value = "true"
  }
}

resource "helm_release" "argo_workflows" {
  name             = "argo-workflows"
  repository       = "https://argoproj.github.io/argo-helm"
  chart            = "argo-workflows"
  version          = "0.45.4"
  namespace        = "argo"
  create_namespace = true
  atomic           = true

  values = [yamlencode({
    # The generated workflows run in the environments' namespaces, with their
    # own service accounts and RBAC (generated/<env>/).
    singleNamespace = false
    server = {
      # SSO or client tokens only; never an anonymous server.
      authModes = ["client"]
    }
  })]
}

resource "helm_release" "knative_operator" {
  name             = "knative-operator"
  repository       = "https://knative.github.io/operator"
  chart            = "knative-operator"
  version          = "v1.22.3"
  namespace        = "knative-operator"
  create_namespace = true
  atomic           = true
}

resource "kubernetes_namespace_v1" "knative_serving" {
  metadata {
    name = "knative-serving"
  }
}

resource "kubernetes_manifest" "knative_serving" {
  manifest = {
    apiVersion = "operator.knative.dev/v1beta1"
    kind       = "KnativeServing"
    metadata = {
      name      = "knative-serving"
      namespace = kubernetes_namespace_v1.knative_serving.metadata[0].name
    }
    spec = {
      version = var.knative_serving_version
      ingress = {
        kourier = { enabled = true }
      }
      config = {
        network = { "ingress-class" = "kourier.ingress.networking.knative.dev" }
      }
    }
  }

  depends_on = [helm_release.knative_operator]
}

resource "helm_release" "kserve_crd" {
  name             = "kserve-crd"
  repository       = "oci://ghcr.io/kserve/charts"
  chart            = "kserve-crd"
  version          = "v0.17.0"
  namespace        = "kserve"
  create_namespace = true
  atomic           = true
}

resource "helm_release" "kserve" {
  name       = "kserve"
  repository = "oci://ghcr.io/kserve/charts"
  chart      = "kserve"
  version    = "v0.17.0"
  namespace  = helm_release.kserve_crd.namespace
  atomic     = true

  depends_on = [helm_release.cert_manager, kubernetes_manifest.knative_serving, helm_release.kserve_crd]
}
