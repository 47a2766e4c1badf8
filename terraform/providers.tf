provider "aws" {
  # null: the AWS_REGION / AWS_DEFAULT_REGION environment variable.
  region = var.aws_region

  default_tags {
    tags = {
      "specops.dev/system"      = var.system
      "specops.dev/environment" = var.environment
      "managed-by"              = "terraform"
    }
  }
}

provider "kubernetes" {
  config_path    = var.kubeconfig_path
  config_context = var.kube_context
}

provider "helm" {
  kubernetes {
    config_path    = var.kubeconfig_path
    config_context = var.kube_context
  }
}
