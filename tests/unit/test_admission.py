"""Admission policies compiled from policies/ and the offline admission dry
run: every emitted expression compiles, every generated object its policies
bind to is admitted, mutated objects are denied with the right rule id, and a
compile whose output its own cluster would reject fails with a located
diagnostic."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from compiler.cli import app
from compiler.compile import OUTPUT_CHECKS, compile_sources
from compiler.emit.admission_dry_run import admission_dry_run, evaluate_admission
from compiler.emit.artifact import Artifact
from compiler.emit.backends import argocd
from compiler.emit.backends.admission import TOP_LEVEL_CONDITION, TOP_LEVEL_EXPRESSION
from compiler.emit.conventions import LABEL_MODEL, WAVES
from compiler.emit.serialize import yaml_artifact
from compiler.load import read_sources
from compiler.policy.admission import ADMISSION_RESOURCES, MODEL_LABEL
from compiler.policy.context import ADMISSION_VARIABLES
from compiler.policy.select import required_approvals
from compiler.spec import Model
from runtime.contracts import compile_cel

VAP = "ValidatingAdmissionPolicy"
VAPB = "ValidatingAdmissionPolicyBinding"
PREFIX = "predictive-maintenance"


@pytest.fixture(scope="module")
def result(repo):
    files, problems = read_sources([repo / "specs", repo / "policies"], base=str(repo))
    res = compile_sources(files, problems)
    assert res.ok, [str(d) for d in res.diagnostics]
    return res


def _docs(result, kind: str) -> dict[str, dict[str, Any]]:
    return {a.path: a.document for a in result.artifacts if isinstance(a.document, dict) and a.document.get("kind") == kind}


def _mutated(result, path: str, mutate) -> list[Artifact]:
    """The compile's artifacts with one manifest changed as a hand edit (or a compiler bug) would."""
    out = []
    for a in result.artifacts:
        if a.path == path:
            doc = copy.deepcopy(a.document)
            mutate(doc)
            a = yaml_artifact(a.path, doc, a.sources, a.backend)
        out.append(a)
    return out


# ------------------------------------------------------------------ emitted policies


def test_one_policy_and_binding_per_rule_and_environment(result):
    policies, bindings = _docs(result, VAP), _docs(result, VAPB)
    names = sorted(d["metadata"]["name"] for d in policies.values())
    assert names == sorted(d["metadata"]["name"] for d in bindings.values())
    assert names == sorted(r.name for r in result.plan.admission)
    # HR-020 is prod only; HR-021 and PB-011 everywhere; PB-010 (digests) in prod and edge.
    assert f"{PREFIX}-prod-hr-020" in names and f"{PREFIX}-staging-hr-020" not in names
    assert {f"{PREFIX}-{e}-pb-011" for e in ("staging", "prod", "edge")} <= set(names)
    assert f"{PREFIX}-staging-pb-010" not in names and f"{PREFIX}-edge-pb-010" in names


def test_every_emitted_expression_compiles_against_the_kubernetes_variables(result):
    count = 0
    for doc in _docs(result, VAP).values():
        spec = doc["spec"]
        assert spec["failurePolicy"] == "Fail"
        sources = ([c["expression"] for c in spec.get("matchConditions", [])]
                   + [v["expression"] for v in spec.get("variables", [])]
                   + [v["expression"] for v in spec["validations"]])
        for source in sources:
            compile_cel(source, ADMISSION_VARIABLES)
            count += 1
        [validation] = spec["validations"]
        rule = next(r for r in result.plan.admission if r.name == doc["metadata"]["name"])
        assert validation["message"].startswith(f"[{rule.rule_id}] ")
        assert f"{rule.file}:{rule.line}" in validation["message"]
    assert count >= 20


def test_bindings_match_only_their_environment_namespace_and_selected_models(result):
    for path, doc in _docs(result, VAPB).items():
        env = path.split("/")[1]
        spec = doc["spec"]
        assert spec["validationActions"] == ["Deny"]
        assert spec["policyName"] == doc["metadata"]["name"]
        [ns] = spec["matchResources"]["namespaceSelector"]["matchExpressions"]
        assert ns == {"key": "kubernetes.io/metadata.name", "operator": "In",
                      "values": [result.plan.environment(env).namespace]}
    hr = _docs(result, VAPB)[f"generated/prod/validatingadmissionpolicybinding-{PREFIX}-prod-hr-020.yaml"]
    assert hr["spec"]["matchResources"]["objectSelector"]["matchExpressions"] == [
        {"key": LABEL_MODEL, "operator": "In", "values": ["pump-failure"]}]
    pb = _docs(result, VAPB)[f"generated/prod/validatingadmissionpolicybinding-{PREFIX}-prod-pb-011.yaml"]
    assert "objectSelector" not in pb["spec"]["matchResources"]  # the baseline selects every model


def test_match_constraints_name_the_real_resources(result):
    pb = _docs(result, VAP)[f"generated/prod/validatingadmissionpolicy-{PREFIX}-prod-pb-011.yaml"]
    rules = {(r["apiGroups"][0], r["apiVersions"][0], r["resources"][0]) for r in pb["spec"]["matchConstraints"]["resourceRules"]}
    assert rules == {("serving.kserve.io", "v1beta1", "inferenceservices"), ("apps", "v1", "deployments"),
                     ("argoproj.io", "v1alpha1", "workflowtemplates"), ("argoproj.io", "v1alpha1", "cronworkflows")}
    assert ADMISSION_RESOURCES["Application"].resource == "applications"


def test_model_label_is_the_emitted_convention():
    assert MODEL_LABEL == LABEL_MODEL


def test_policies_sync_before_the_workloads_they_check(result):
    assert WAVES[VAP] < min(WAVES[k] for k in ("WorkflowTemplate", "CronWorkflow", "Deployment", "InferenceService"))
    assert argocd.check_consistency(result.plan, result.artifacts) == []


def test_limits_and_maximum_come_from_the_specs(result, repo):
    """HR-021's maximum is the policy's maxCanaryPercent; HR-020's count is what lint requires."""
    hr021 = _docs(result, VAP)[f"generated/prod/validatingadmissionpolicy-{PREFIX}-prod-hr-021.yaml"]
    assert {"name": "maxCanaryPercent", "expression": "25"} in hr021["spec"]["variables"]
    assert "25" not in hr021["spec"]["validations"][0]["expression"]
    from compiler.lint import lint_paths

    lint = lint_paths([repo / "specs", repo / "policies"], base=str(repo))
    model = next(m for _, m in lint.spec.of_kind(Model) if m.name == "pump-failure")
    need = required_approvals(lint.spec, model, "prod").count
    hr020 = _docs(result, VAP)[f"generated/prod/validatingadmissionpolicy-{PREFIX}-prod-hr-020.yaml"]
    assert {"name": "approvalsByModel", "expression": f"{{'pump-failure': {need}}}"} in hr020["spec"]["variables"]


# ------------------------------------------------------------------ the dry run


def test_dry_run_is_an_output_check():
    assert admission_dry_run in OUTPUT_CHECKS


def test_every_generated_object_is_admitted_and_the_run_is_not_vacuous(result):
    assert admission_dry_run(result.plan, result.artifacts) == []
    policies, bindings = _docs(result, VAP), _docs(result, VAPB)
    objects = {a.path: a.document for a in result.artifacts if isinstance(a.document, dict)
               and a.document.get("metadata", {}).get("namespace")}
    matched: set[tuple[str, str]] = set()
    for path, policy in policies.items():
        binding = bindings[path.replace("validatingadmissionpolicy-", "validatingadmissionpolicybinding-")]
        for opath, obj in objects.items():
            ns = obj["metadata"]["namespace"]
            outcome = evaluate_admission(policy, binding, obj,
                                         {"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}})
            assert outcome.allowed, (path, opath, outcome)
            if outcome.matched:
                matched.add((policy["metadata"]["name"].removeprefix(PREFIX + "-"), opath.rpartition("/")[2]))
    assert {
        ("prod-hr-020", "inferenceservice-pump-failure.yaml"),
        ("prod-hr-021", "inferenceservice-pump-failure.yaml"),
        ("prod-pb-010", "deployment-ingest-sensor-stream.yaml"),
        ("prod-pb-010", "cronworkflow-pump-failure-monitor.yaml"),
        ("edge-pb-010", "deployment-pump-failure-edge-runner.yaml"),
        ("staging-pb-011", "workflowtemplate-pump-failure-training.yaml"),
        ("staging-pb-011", "cronworkflow-pump-failure-retrain.yaml"),
    } <= matched
    assert len(matched) == 16


def _isvc(env="prod"):
    return f"generated/{env}/inferenceservice-pump-failure.yaml"


def _set_annotation(key, value):
    def mutate(doc):
        if value is None:
            doc["metadata"]["annotations"].pop(key)
        else:
            doc["metadata"]["annotations"][key] = value
    return mutate


def _image(container_path):
    def mutate(doc):
        node = doc
        for part in container_path:
            node = node[part]
        node["image"] = "ghcr.io/acme/specops-runtime:0.1.0"
    return mutate


def _no_limits(container_path):
    def mutate(doc):
        node = doc
        for part in container_path:
            node = node[part]
        node["resources"].pop("limits")
    return mutate


def _canary(percent):
    def mutate(doc):
        doc["spec"]["predictor"]["canaryTrafficPercent"] = percent
    return mutate


MUTATIONS = {
    # name: (manifest, mutation, rule id, spec the object is built from)
    "approvals-below-required": (_isvc(), _set_annotation("specops.dev/approvals", "1"), "HR-020", "specs/models/pump-failure.yaml"),
    "approvals-missing": (_isvc(), _set_annotation("specops.dev/approvals", None), "HR-020", "specs/models/pump-failure.yaml"),
    "release-missing": (_isvc(), _set_annotation("specops.dev/release", None), "HR-020", "specs/models/pump-failure.yaml"),
    "isvc-image-by-tag": (_isvc(), _image(("spec", "predictor", "containers", 0)), "PB-010", "specs/models/pump-failure.yaml"),
    "deployment-image-by-tag": ("generated/prod/deployment-ingest-sensor-stream.yaml",
                                _image(("spec", "template", "spec", "containers", 0)), "PB-010",
                                "specs/data/sensor-events.yaml"),
    "edge-runner-image-by-tag": ("generated/edge/deployment-pump-failure-edge-runner.yaml",
                                 _image(("spec", "template", "spec", "containers", 0)), "PB-010",
                                 "specs/models/pump-failure.yaml"),
    "cron-image-by-tag": ("generated/prod/cronworkflow-pump-failure-monitor.yaml",
                          _image(("spec", "workflowSpec", "templates", 0, "container")), "PB-010",
                          "specs/models/pump-failure.yaml"),
    "canary-above-maximum": (_isvc(), _canary(30), "HR-021", "specs/models/pump-failure.yaml"),
    "staging-canary-above-maximum": (_isvc("staging"), _canary(26), "HR-021", "specs/models/pump-failure.yaml"),
    "isvc-without-limits": (_isvc(), _no_limits(("spec", "predictor", "containers", 0)), "PB-011", "specs/models/pump-failure.yaml"),
    "template-without-limits": ("generated/staging/workflowtemplate-pump-failure-training.yaml",
                                _no_limits(("spec", "templates", 1, "container")), "PB-011",
                                "specs/models/pump-failure.yaml"),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_mutated_object_is_denied_with_the_rule_id(result, case):
    path, mutate, rule_id, spec_file = MUTATIONS[case]
    artifacts = _mutated(result, path, mutate)
    diags = admission_dry_run(result.plan, artifacts)
    assert [d.code for d in diags] == ["SO602"], [str(d) for d in diags]
    [d] = diags
    rule = next(r for r in result.plan.admission if r.rule_id == rule_id and r.environment == path.split("/")[1])
    assert f"[{rule_id}]" in d.message and path in d.message
    assert f"{rule.file}:{rule.line}" in d.message  # the policy file:line
    assert d.location.file == spec_file and d.location.line > 0  # the spec the object came from
    assert d.related == ((type(d.location)(rule.file, rule.line, 1), "admission rule defined here"),)
    built_from = next(a.sources for a in result.artifacts if a.path == path)
    assert f"built from {', '.join(built_from)}" in d.message


def test_approvals_in_staging_are_not_a_production_rule(result):
    artifacts = _mutated(result, _isvc("staging"), _set_annotation("specops.dev/approvals", "0"))
    assert admission_dry_run(result.plan, artifacts) == []


def test_unevaluable_expression_is_a_located_error_not_a_pass(result):
    def break_rule(doc):
        doc["spec"]["validations"][0]["expression"] = "object.spec.predictor.noSuchField > 0"
    path = f"generated/prod/validatingadmissionpolicy-{PREFIX}-prod-hr-021.yaml"
    diags = admission_dry_run(result.plan, _mutated(result, path, break_rule))
    assert [d.code for d in diags] == ["SO603"]
    assert "cannot be evaluated offline" in diags[0].message and "validations[0]" in diags[0].message
    assert diags[0].location.file == "specs/models/pump-failure.yaml"


def test_binding_without_its_policy_is_reported(result):
    path = f"generated/prod/validatingadmissionpolicy-{PREFIX}-prod-hr-021.yaml"
    artifacts = [a for a in result.artifacts if a.path != path]
    diags = admission_dry_run(result.plan, artifacts)
    assert [d.code for d in diags] == ["SO604"]
    assert "not emitted to cluster" in diags[0].message


def test_policies_of_one_cluster_do_not_judge_another(result):
    """A policy for prod's namespace never sees staging objects, even if both namespaces had the same name."""
    plan = result.plan
    envs = tuple(dataclasses.replace(e, cluster="https://one.example") if e.kind == "cloud" else e
                 for e in plan.environments)
    same_cluster = dataclasses.replace(plan, environments=envs)
    artifacts = _mutated(result, _isvc("staging"), _set_annotation("specops.dev/approvals", "0"))
    assert admission_dry_run(same_cluster, artifacts) == []


# ------------------------------------------------------------------ compile end to end


REPLICAS_POLICY = """\
apiVersion: specops.dev/v1alpha1
kind: RiskPolicy
metadata:
  name: availability
spec:
  rules:
    - id: AV-001
      target: admission
      kinds: [Deployment]
      environments: [prod]
      message: production Deployments run at least two replicas
      expression: object.spec.replicas >= 2
"""


@pytest.fixture()
def tree(tmp_path, repo, monkeypatch):
    for folder in ("specs", "policies", "generated"):
        shutil.copytree(repo / folder, tmp_path / folder)
    shutil.copy2(repo / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_compile_whose_cluster_would_reject_it_fails_located_and_writes_nothing(tree: Path):
    (tree / "policies" / "availability.yaml").write_text(REPLICAS_POLICY, encoding="utf-8")
    before = {p: p.read_bytes() for p in (tree / "generated").rglob("*") if p.is_file()}
    res = CliRunner().invoke(app, ["compile", "specs/", "--out", "generated/", "--format", "json"])
    assert res.exit_code == 1, res.output
    found = [d for d in json.loads(res.stdout)["diagnostics"] if d["code"] == "SO602"]
    assert len(found) == 1, res.stdout
    [d] = found
    assert "generated/prod/deployment-ingest-sensor-stream.yaml: Deployment/ingest-sensor-stream" in d["message"]
    assert "[AV-001]" in d["message"] and "policies/availability.yaml:7" in d["message"]
    assert "built from DataSource/sensor-stream, FeatureSet/asset-health, System/predictive-maintenance" in d["message"]
    assert d["file"] == "specs/data/sensor-events.yaml"
    after = {p: p.read_bytes() for p in (tree / "generated").rglob("*") if p.is_file()}
    assert after == before


def test_rule_that_lint_accepts_but_fails_on_real_output_is_so603(tree: Path):
    # The typical object lint checks carries an approvals annotation; the real Deployments do not.
    (tree / "policies" / "availability.yaml").write_text(REPLICAS_POLICY.replace(
        "object.spec.replicas >= 2", "object.metadata.annotations['specops.dev/approvals'] != ''"), encoding="utf-8")
    files, problems = read_sources([tree / "specs", tree / "policies"], base=str(tree))
    res = compile_sources(files, problems)
    assert res.lint.ok
    assert {d.code for d in res.diagnostics if d.is_error} == {"SO603"}
    assert not res.ok


@pytest.mark.parametrize(("when", "denied"), [("object.metadata.name == 'ingest-sensor-stream'", True),
                                               ("object.metadata.name == 'no-such-deployment'", False)])
def test_when_is_a_match_condition_the_dry_run_honours(tree: Path, when: str, denied: bool):
    policy = REPLICAS_POLICY.replace("      expression:", f"      when: \"{when}\"\n      expression:")
    (tree / "policies" / "availability.yaml").write_text(policy, encoding="utf-8")
    files, problems = read_sources([tree / "specs", tree / "policies"], base=str(tree))
    res = compile_sources(files, problems)
    assert res.lint.ok
    [plan] = [r for r in res.plan.admission if r.rule_id == "AV-001"]
    vap = next(a.document for a in res.artifacts if a.path.endswith(f"validatingadmissionpolicy-{plan.name}.yaml"))
    assert vap["spec"]["matchConditions"] == [{"name": TOP_LEVEL_CONDITION, "expression": TOP_LEVEL_EXPRESSION},
                                              {"name": "when", "expression": when}]
    assert [d.code for d in res.diagnostics if d.is_error] == (["SO602"] if denied else [])


def test_match_condition_reading_variables_is_not_evaluable(result):
    def add_condition(doc):
        doc["spec"]["matchConditions"] = [{"name": "when", "expression": "variables.maxCanaryPercent > 0"}]
    path = f"generated/prod/validatingadmissionpolicy-{PREFIX}-prod-hr-021.yaml"
    diags = admission_dry_run(result.plan, _mutated(result, path, add_condition))
    assert [d.code for d in diags] == ["SO603"] and "matchConditions cannot read variables" in diags[0].message


def test_objects_a_controller_owns_are_left_to_their_owner(result):
    """A Knative revision's Deployment (owned by its Revision) runs Knative's queue-proxy without a CPU
    limit; the rules judge what git declares, so it is not matched, while a bare copy is denied."""
    path = "generated/prod/deployment-ingest-sensor-stream.yaml"

    def knative_child(doc):
        doc["spec"]["template"]["spec"]["containers"].append({"name": "queue-proxy", "image": "gcr.io/knative/queue:v1"})
        doc["metadata"]["ownerReferences"] = [{"apiVersion": "serving.knative.dev/v1", "kind": "Revision",
                                              "name": "pump-failure-predictor-00001", "uid": "0" * 8,
                                              "controller": True}]

    assert admission_dry_run(result.plan, _mutated(result, path, knative_child)) == []

    def bare(doc):
        knative_child(doc)
        doc["metadata"]["ownerReferences"][0]["controller"] = False
    denied = admission_dry_run(result.plan, _mutated(result, path, bare))
    assert sorted(d.message.split(": [")[1][:6] for d in denied) == ["PB-010", "PB-011"]


def test_lint_annotation_and_admission_count_approvals_the_same_way(result, repo):
    """The release annotation is counted_approvals (what SO443 compares) and the policy's number is
    required_approvals (what SO443 requires): one definition of "approved" for all three."""
    from compiler.lint import lint_paths
    from compiler.policy.select import counted_approvals
    from compiler.spec import ModelRelease

    lint = lint_paths([repo / "specs", repo / "policies"], base=str(repo))
    model = next(m for _, m in lint.spec.of_kind(Model) if m.name == "pump-failure")
    release = next(r for _, r in lint.spec.of_kind(ModelRelease) if r.name == "pump-failure-1-4-0")
    for env in ("staging", "prod"):
        need = required_approvals(lint.spec, model, env)
        isvc = next(a.document for a in result.artifacts if a.path == _isvc(env))
        assert isvc["metadata"]["annotations"]["specops.dev/approvals"] == str(counted_approvals(release.spec.approvals, need))
    # An approver without one of the roles the policy names does not count, anywhere.
    need = required_approvals(lint.spec, model, "prod")
    assert need.count == 2 and need.roles == ("ml-lead", "risk-officer")
    other_role = [a.model_copy(update={"role": "data-scientist"}) if a.role == "risk-officer" else a
                  for a in release.spec.approvals]
    assert counted_approvals(other_role, need) == 1
