variable "name" {
  type        = string
  description = "The namespace's name."
}

variable "labels" {
  type        = map(string)
  description = "The namespace's labels (as in the generated Namespace manifest)."
}

variable "runtime_image" {
  type        = string
  description = "The runtime image reference the environment runs, recorded as an annotation."
}
