variable "namespace" {
  type        = string
  description = "The namespace the Secrets are created in."
}

variable "secrets" {
  type = list(object({
    name = string
    keys = list(string)
    type = string
  }))
  description = "The Secrets (names and keys) the specs reference."
}

variable "values" {
  type        = map(map(string))
  description = "The values, as { secret name = { key = value } }."
  sensitive   = true
}
