output "names" {
  description = "The names of the Secrets created."
  value       = sort(keys(kubernetes_secret_v1.this))
}
