"""The terraform backend: one tfvars file per cloud environment, canonical
and deterministic, names of Secrets only (never values), and exactly one
owner of Argo CD and the shared bucket, one add-on install per cluster."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from compiler.emit import backends, emit
from compiler.emit.backends import argocd, kubernetes
from compiler.emit.backends import terraform as tf
from compiler.emit.serialize import plain
from compiler.lint import lint_paths
from compiler.plan import KeyRefPlan, SecretRefPlan, SystemPlan, build_plan


def _vars(plan: SystemPlan) -> dict[str, dict]:
    return {a.path.rsplit("/", 1)[1].split(".")[0]: json.loads(a.content) for a in tf.emit(plan)}


def test_registered_and_deterministic(plan: SystemPlan) -> None:
    assert backends()["terraform"] is tf.emit
    first = [(a.path, a.content) for a in tf.emit(plan)]
    assert first == [(a.path, a.content) for a in tf.emit(plan)]
    for path, content in first:
        assert path.startswith("generated/terraform/") and path.endswith(".auto.tfvars.json")
        # canonical: sorted keys, two-space indent, trailing newline
        assert content.decode() == json.dumps(json.loads(content), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_example_environments(plan: SystemPlan) -> None:
    v = _vars(plan)
    assert sorted(v) == ["prod", "staging"]  # edge gateways are not provisioned by Terraform
    assert (v["staging"]["install_argocd"], v["prod"]["install_argocd"]) == (True, False)
    assert (v["staging"]["manage_artifact_bucket"], v["prod"]["manage_artifact_bucket"]) == (True, False)
    assert v["staging"]["install_addons"] and v["prod"]["install_addons"]  # two clusters
    assert v["prod"]["cluster"] == "https://prod.k8s.acme.example"
    assert v["staging"]["artifact_bucket"] == {"name": "acme-ml-artifacts", "prefix": "predictive-maintenance"}
    assert v["prod"]["runtime_image"]["reference"] == plan.image
    assert v["prod"]["runtime_image"]["repository"] == "ghcr.io/acme/specops-runtime"
    assert [s["name"] for s in v["prod"]["secrets"]] == ["artifact-store", "oncall-webhook", "online-store", "review-db"]


def test_namespace_labels_match_the_generated_namespace(plan: SystemPlan) -> None:
    v = _vars(plan)
    for env in plan.environments:
        if env.kind == "cloud":
            assert v[env.name]["namespace_labels"] == plain(kubernetes.build_namespace(plan, env))["metadata"]["labels"]


def test_one_addon_install_per_cluster_and_one_argocd(plan: SystemPlan) -> None:
    staging = plan.environment("staging")
    extra = dataclasses.replace(staging, name="qa", namespace="pm-qa", order=0, cluster=None)
    prod = dataclasses.replace(plan.environment("prod"), cluster=argocd.IN_CLUSTER_SERVER)
    variant = dataclasses.replace(plan, environments=(extra, staging, prod, plan.environment("edge")))
    v = _vars(variant)
    # qa is first (order 0) in the local cluster: it installs everything once.
    assert {k: (x["install_addons"], x["install_argocd"]) for k, x in v.items()} == {
        "qa": (True, True), "staging": (False, False), "prod": (False, False)}
    assert sum(x["manage_artifact_bucket"] for x in v.values()) == 1


def test_argocd_elsewhere_when_no_environment_is_in_cluster(plan: SystemPlan) -> None:
    envs = tuple(dataclasses.replace(e, cluster="https://a.example") if e.name == "staging" else e
                 for e in plan.environments)
    v = _vars(dataclasses.replace(plan, environments=envs))
    assert v["staging"]["install_argocd"] and not v["prod"]["install_argocd"]
    # distinct clusters: each installs its add-ons
    assert v["staging"]["install_addons"] and v["prod"]["install_addons"]


def test_artifacts_off_s3_have_no_bucket(plan: SystemPlan) -> None:
    v = _vars(dataclasses.replace(plan, artifacts_uri="gs://bucket/x"))
    assert "artifact_bucket" not in v["staging"]  # Terraform's default: null
    assert v["staging"]["manage_artifact_bucket"] is False
    assert tf.artifact_bucket("s3://b") == tf.artifact_bucket("s3://b/") and tf.artifact_bucket("s3://b").prefix == ""


def test_secret_names_only_and_pull_secret_typed(plan: SystemPlan) -> None:
    refs = (*plan.secret_refs, SecretRefPlan("registry", ".dockerconfigjson", ("System/x",)),
            SecretRefPlan("review-db", "password", ("System/x",)))
    v = _vars(dataclasses.replace(plan, secret_refs=refs))
    secrets = {s["name"]: s for s in v["prod"]["secrets"]}
    assert secrets["registry"]["type"] == "kubernetes.io/dockerconfigjson"
    assert secrets["review-db"]["keys"] == ["dsn", "password"] and secrets["review-db"]["type"] == "Opaque"


def test_the_edge_signing_key_is_provisioned_only_where_training_signs(plan: SystemPlan) -> None:
    """A private key in every namespace is a private key in every namespace's Secrets readers' hands."""
    name, key = plan.edge_signing_secret
    training = {p.environment for p in plan.pipelines}
    v = _vars(plan)
    assert training == {"staging"} and set(v) == {"staging", "prod"}
    for env, tfvars in v.items():
        has = any(s["name"] == name and key in s["keys"] for s in tfvars["secrets"])
        assert has == (env in training), env
    # The other references are still everywhere.
    assert {s["name"] for s in v["prod"]["secrets"]} == {s["name"] for s in v["staging"]["secrets"]} - {name}


def test_a_trusted_key_in_a_secret_is_not_provisioned_in_cloud_namespaces(plan: SystemPlan) -> None:
    refs = (*plan.secret_refs, SecretRefPlan("edge-trust", "ed25519.pub", ("System/x",)))
    trusted = dataclasses.replace(plan, secret_refs=refs, edge_trusted_key=KeyRefPlan("secret", "edge-trust", "ed25519.pub"))
    for tfvars in _vars(trusted).values():
        assert "edge-trust" not in {s["name"] for s in tfvars["secrets"]}


def test_secret_refs_found_in_every_kind(repo: Path, tmp_path: Path) -> None:
    """A secretRef anywhere (here a stream DataSource's credentials) reaches the tfvars."""
    shutil.copytree(repo / "specs", tmp_path / "specs")
    shutil.copytree(repo / "policies", tmp_path / "policies")
    path = tmp_path / "specs" / "data" / "sensor-events.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    durable: pm-ingester\n",
                                 "    durable: pm-ingester\n    credentials:\n      secretRef: {name: nats-creds, key: creds}\n"),
                    encoding="utf-8")
    result = lint_paths([tmp_path / "specs", tmp_path / "policies"], base=str(tmp_path))
    assert [d for d in result.diagnostics if d.severity == "error"] == []
    p = build_plan(result.spec)
    assert SecretRefPlan("nats-creds", "creds", ("DataSource/sensor-stream",)) in p.secret_refs
    (tfvars,) = [a for a in tf.emit(p) if a.path.endswith("prod.auto.tfvars.json")]
    assert "DataSource/sensor-stream" in tfvars.sources
    assert {"name": "nats-creds", "keys": ["creds"], "type": "Opaque"} in json.loads(tfvars.content)["secrets"]


def test_argocd_consistency_ignores_the_terraform_folder(plan: SystemPlan) -> None:
    artifacts = emit(plan)
    assert any(a.path.startswith("generated/terraform/") for a in artifacts)
    assert argocd.check_consistency(plan, artifacts) == []


def test_s3_bucket_names_s3_would_refuse() -> None:
    from compiler.checks.platform import s3_bucket_problem

    assert s3_bucket_problem("acme-ml-artifacts") is None
    assert s3_bucket_problem("a.b-c1") is None
    for bad, why in [("ab", "3 to 63"), ("a" * 64, "3 to 63"), ("Acme", "lowercase"), ("a_b", "lowercase"),
                     ("-ab", "start and end"), ("a..b", "adjacent dots"), ("192.168.1.1", "IP address"),
                     ("xn--abc", "reserved prefix"), ("abc-s3alias", "reserved suffix")]:
        problem = s3_bucket_problem(bad)
        assert problem is not None and why in problem, (bad, problem)
