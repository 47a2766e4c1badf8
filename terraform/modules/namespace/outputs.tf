output "name" {
  description = "The namespace's name, once it exists."
  value       = kubernetes_namespace_v1.this.metadata[0].name
}
