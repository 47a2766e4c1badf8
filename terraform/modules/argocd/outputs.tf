output "root_application" {
  description = "The root Application's namespace/name."
  value       = "${var.namespace}/${local.root_name}"
}
