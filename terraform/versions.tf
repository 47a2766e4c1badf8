# Exact provider versions: an upgrade is a reviewed change to this file.
terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.82.2"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "2.35.1"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "2.17.0"
    }
  }

  # State holds the Secrets' values: keep it in an encrypted remote backend,
  # one state per environment (terraform init -backend-config=..., see README).
  backend "s3" {}
}
