# The Secrets the specs reference by name and key (secretRef).  Their values
# come only from the sensitive input; a missing value fails the plan with the
# Secret and key named, instead of creating an empty key.
locals {
  secrets = { for s in var.secrets : s.name => s }
}

resource "kubernetes_secret_v1" "this" {
  for_each = local.secrets

  metadata {
    name      = each.key
    namespace = var.namespace
    labels = {
      "app.kubernetes.io/managed-by" = "terraform"
    }
  }

  type = each.value.type
  data = { for k in each.value.keys : k => try(var.values[each.key][k], "") }

  lifecycle {
    precondition {
      condition     = alltrue([for k in each.value.keys : try(var.values[each.key][k], "") != ""])
      error_message = "Secret ${each.key}: set a value for every key the specs reference (${join(", ", each.value.keys)}) in secret_values[\"${each.key}\"]."
    }
  }
}
