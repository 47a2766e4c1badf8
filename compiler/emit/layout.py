"""Where each output lives.  Each Argo CD Application's folder holds nothing
but Kubernetes manifests; runtime configs and the manifest index live
outside every synced folder."""

from __future__ import annotations

from compiler.plan import SystemPlan

__all__ = ["argocd_dir", "environment_dir", "manifest_file", "manifest_path", "runtime_dir", "terraform_dir"]


def environment_dir(plan: SystemPlan, env: str) -> str:
    return f"{plan.generated_dir}/{env}"


def argocd_dir(plan: SystemPlan) -> str:
    return f"{plan.generated_dir}/argocd"


def runtime_dir(plan: SystemPlan) -> str:
    return f"{plan.generated_dir}/runtime"


def manifest_path(plan: SystemPlan) -> str:
    return f"{plan.generated_dir}/manifest.json"


def manifest_file(plan: SystemPlan, env: str, kind: str, name: str) -> str:
    """generated/<env>/<kind>-<name>.yaml: one Kubernetes object per file."""
    return f"{environment_dir(plan, env)}/{kind.lower()}-{name}.yaml"


def terraform_dir(plan: SystemPlan) -> str:
    """generated/terraform/<env>.auto.tfvars.json: variables for terraform/, never synced by Argo CD."""
    return f"{plan.generated_dir}/terraform"
