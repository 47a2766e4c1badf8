"""Stage 3, model development (03_model_development.feature): the
point-in-time training table with late labels, and promotion through gates
and approvals.

The late-label steps run validate-data and build-features in this process
on generator data cut at an arrival time (shared steps in conftest.py); the
promotion steps run the real pipeline (`specops run`) and CLI as processes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from pipeline_project import WORK, PipelineRun, copy_project, specops
from pytest_bdd import given, parsers, scenarios, then, when

from runtime.cli import main as runtime_main
from runtime.contracts.steps import BuildFeaturesConfig, GeneratorConfig
from runtime.data.generator import GeneratedData, generate
from runtime.events import ARRIVAL_TIME

scenarios("03_model_development.feature")

# ------------------------------------------------------------------ late labels

# Enough assets that some failure closes its ticket after the earlier cut.
LATE_LABELS_DATA = GeneratorConfig(seed=7, assets=30, days=16)
BUILD_FEATURES = "generated/runtime/pump-failure/build-features.json"


@dataclass
class Cut:
    data: GeneratedData | None = None
    arrived_by: Any = None  # the arrival time the earlier snapshot was cut at
    earlier: pa.Table | None = None
    earlier_lineage: dict[str, Any] | None = None
    late_failures: list[tuple[str, Any]] | None = None  # (asset, failure time) reported after the earlier cut


@pytest.fixture
def cut() -> Cut:
    return Cut()


def _arrived_by(table: pa.Table, until: Any) -> pa.Table:
    return table.filter(pc.less_equal(table[ARRIVAL_TIME], pa.scalar(until, pa.timestamp("us", tz="UTC"))))


def _validate(lint_ci: Any, shared_steps: Any, data: GeneratedData, as_of: Any) -> None:
    shared_steps.write_example_data(lint_ci.root, data, as_of.isoformat().replace("+00:00", "Z"))
    assert runtime_main(["validate-data", "--config", "validate-data.json"]) == 0


def _config(lint_ci: Any) -> BuildFeaturesConfig:
    return BuildFeaturesConfig.model_validate_json((lint_ci.root / BUILD_FEATURES).read_text())


def _built(lint_ci: Any) -> tuple[pa.Table, dict[str, Any]]:
    out = lint_ci.root / _config(lint_ci).output
    return pq.read_table(out / "training.parquet"), json.loads((out / "lineage.json").read_text())


@given(parsers.re(r"the generated events and failure tickets that had arrived by day (?P<day>\d+), "
                  r"validated into a snapshot"))
def arrived_by_day(lint_ci: Any, shared_steps: Any, cut: Cut, day: str) -> None:
    cut.data = generate(LATE_LABELS_DATA)
    cut.arrived_by = LATE_LABELS_DATA.start + timedelta(days=int(day))
    early = GeneratedData(events=_arrived_by(cut.data.events, cut.arrived_by),
                          labels=_arrived_by(cut.data.labels, cut.arrived_by), failures=cut.data.failures)
    assert early.labels.num_rows < cut.data.labels.num_rows
    _validate(lint_ci, shared_steps, early, cut.arrived_by)


def _cut_us(lineage: dict[str, Any]) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(lineage["table_cut_time"].replace("Z", "+00:00")).timestamp() * 1_000_000)


def _us(column: pa.ChunkedArray) -> list[int]:
    return pc.cast(column, pa.int64()).to_pylist()


@then("no training row is younger than the label horizon plus the availability delay before the table cut")
def all_mature(lint_ci: Any, cut: Cut) -> None:
    table, lineage = _built(lint_ci)
    label = _config(lint_ci).label
    last_mature = _cut_us(lineage) - round((label.horizon_s + label.availability_delay_s) * 1_000_000)
    assert table.num_rows > 0
    assert max(_us(table["cut_time"])) <= last_mature
    cut.earlier, cut.earlier_lineage = table, lineage


@then("the lineage counts the rows left out because their label was not yet mature")
def immature_counted(lint_ci: Any, cut: Cut) -> None:
    assert cut.earlier is not None and cut.earlier_lineage is not None
    config = _config(lint_ci)
    # Every asset reports every few minutes up to the cut, so each has about (horizon + delay) / sample_every
    # sample times after its last mature one.
    per_asset = int((config.label.horizon_s + config.label.availability_delay_s) // config.sample_every_s) - 1
    assets = len(set(cut.earlier["asset_id"].to_pylist()))
    assert cut.earlier_lineage["rows_left_out_immature_label"] >= assets * per_asset, cut.earlier_lineage


@then("a failure that happened before the cut but was reported after it labels no row")
def late_failure_unused(lint_ci: Any, cut: Cut) -> None:
    assert cut.data is not None and cut.earlier is not None and cut.earlier_lineage is not None
    table_cut = _cut_us(cut.earlier_lineage)
    labels = cut.data.labels.to_pylist()
    late = [(r["asset_id"], r["failure_time"]) for r in labels if r["failed"]
            and r["failure_time"].timestamp() * 1e6 <= table_cut < r[ARRIVAL_TIME].timestamp() * 1e6]
    assert late, "the generated data has no failure reported after the earlier cut: the scenario proves nothing"
    horizon = timedelta(seconds=_config(lint_ci).label.horizon_s)
    rows = cut.earlier.select(["asset_id", "cut_time"]).to_pylist()
    for asset, failed_at in late:
        before = [r for r in rows if r["asset_id"] == asset and failed_at - horizon <= r["cut_time"] < failed_at]
        assert not before, f"{asset}'s failure at {failed_at} was not reported by the cut, yet labels {before}"
    cut.late_failures = late


@when("the rest of the data arrives and the training table is built again")
def rebuilt(lint_ci: Any, shared_steps: Any, cut: Cut) -> None:
    assert cut.data is not None
    # Up to the last sensor event, the data's "now" (tickets of the last days' failures are still open then).
    latest = max(cut.data.events[ARRIVAL_TIME].to_pylist())
    later = GeneratedData(events=cut.data.events, labels=_arrived_by(cut.data.labels, latest),
                          failures=cut.data.failures)
    _validate(lint_ci, shared_steps, later, latest)
    assert runtime_main(["build-features", "--config", BUILD_FEATURES]) == 0


def _by_key(table: pa.Table) -> dict[tuple[str, Any], dict[str, Any]]:
    return {(r["asset_id"], r["cut_time"]): r for r in table.to_pylist()}


@then("every row of the earlier table has the same label in the later table")
def labels_final(lint_ci: Any, cut: Cut) -> None:
    assert cut.earlier is not None
    later = _by_key(_built(lint_ci)[0])
    earlier = _by_key(cut.earlier)
    assert len(later) > len(earlier)
    missing = [k for k in earlier if k not in later]
    assert not missing, f"{len(missing)} earlier rows are not in the later table, e.g. {missing[:3]}"
    changed = [k for k, row in earlier.items() if row["label"] != later[k]["label"]]
    assert not changed, f"{len(changed)} of {len(earlier)} labels changed once later tickets arrived: {changed[:3]}"
    assert sum(r["label"] for r in earlier.values()) > 0  # positives too, not only negatives


@then("the late failure labels the rows of its horizon in the later table")
def late_failure_used_later(lint_ci: Any, cut: Cut) -> None:
    assert cut.late_failures
    horizon = timedelta(seconds=_config(lint_ci).label.horizon_s)
    rows = _built(lint_ci)[0].select(["asset_id", "cut_time", "label"]).to_pylist()
    for asset, failed_at in cut.late_failures:
        window = [r for r in rows if r["asset_id"] == asset and failed_at - horizon <= r["cut_time"] < failed_at]
        assert window and all(r["label"] == 1 for r in window), (asset, failed_at, window)


# ------------------------------------------------------------------ promotion

RELEASES = Path("specs/releases/pump-failure.yaml")
REGISTRY = Path(".specops/artifacts/models/pump-failure")


@pytest.fixture
def pipeline(pipeline_run: PipelineRun) -> Path:
    """One real run, shared by the scenarios (and tests/integration); each scenario works on a copy."""
    assert pipeline_run.code == 0, pipeline_run.output
    return pipeline_run.root


@pytest.fixture
def state() -> dict:
    return {}


@given('the example system run end to end by "specops run" on a small sample data set')
def project(pipeline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: dict) -> Path:
    root = copy_project(pipeline, tmp_path / "project")
    monkeypatch.chdir(root)
    state["root"] = root
    return root


def _versions() -> list[str]:
    return sorted(p.name for p in (REGISTRY / "versions").iterdir())


@then(parsers.parse('the model is registered as version "{version}" with every gate passed and a model card'))
def registered(version: str) -> None:
    entry = json.loads((WORK / "registry/entry.json").read_text())
    assert entry["version"] == version and _versions() == [version]
    assert entry["card"]["gates"] and all(g["passed"] for g in entry["card"]["gates"])
    assert (REGISTRY / "versions" / version / "card.md").is_file()
    assert json.loads((REGISTRY / "aliases.json").read_text())["champion"] == version


@when(parsers.parse('I propose the pipeline\'s release as the prod canary in place of "{old}"'))
def propose_as_canary(old: str, state: dict) -> None:
    code, out = specops("release", "propose")
    assert code == 0, out
    (proposed,) = [p for p in Path("specs/releases").glob("pump-failure-0-*.yaml")]
    state["release"] = proposed
    text = RELEASES.read_text(encoding="utf-8")
    canary = "    - {environment: prod, role: canary, canaryStep: 0}\n"
    assert text.count(canary) == 1
    RELEASES.write_text(text.replace(canary, ""), encoding="utf-8")
    doc = proposed.read_text(encoding="utf-8").replace("  deployments: []", "  deployments:\n  - {environment: prod, role: canary, canaryStep: 0}")
    proposed.write_text(doc, encoding="utf-8")


@then(parsers.parse('lint refuses the release with "{code}"'))
def lint_refuses(code: str, state: dict) -> None:
    rc, out = specops("lint", "specs/", "--format", "json")
    assert rc == 1, out
    found = [d for d in json.loads(out)["diagnostics"] if d["code"] == code]
    assert found and all(d["file"].endswith(state["release"].name) for d in found), out
    rc, out = specops("compile", "specs/", "--out", "generated/")
    assert rc == 1 and "nothing was written" in out


@when(parsers.parse('"{approver}" approves it as "{role}"'))
def approve(approver: str, role: str) -> None:
    rc, out = specops("release", "approve", "pump-failure-0-1-0", "--approver", approver, "--role", role,
                      "--reason", "Gates, card and canary plan reviewed", "--date", "2026-11-27")
    assert rc == 0, out


@then("lint accepts the specs")
def lint_accepts() -> None:
    rc, out = specops("lint", "specs/")
    assert rc == 0, out


@then(parsers.parse('the compiled prod InferenceService serves "{release}" with "{count}" approvals'))
def compiled(release: str, count: str) -> None:
    rc, out = specops("compile", "specs/", "--out", "generated/")
    assert rc == 0, out
    isvc = yaml.safe_load(Path("generated/prod/inferenceservice-pump-failure.yaml").read_text())
    annotations = isvc["metadata"]["annotations"]
    assert annotations["specops.dev/release"] == release and annotations["specops.dev/approvals"] == count


@when(parsers.parse('the "{metric}" gate is tightened to "{bound}" and the pipeline runs again'))
def tighten(metric: str, bound: str, state: dict) -> None:
    state["before"] = (_versions(), (REGISTRY / "aliases.json").read_text())
    model = Path("specs/models/pump-failure.yaml")
    text = model.read_text(encoding="utf-8")
    old = "{metric: ece, max: 0.05}"
    assert metric == "ece" and old in text
    model.write_text(text.replace(old, f"{{metric: ece, max: {bound}}}"), encoding="utf-8")
    state["run"] = specops("run", "specs/")


@then(parsers.parse('the run stops at "{stage}" with exit code {code:d}'))
def stopped(stage: str, code: int, state: dict) -> None:
    rc, out = state["run"]
    assert rc == code, out
    assert f"stopped at {stage}" in out and "FAIL" in out
    report = json.loads((WORK / "reports/evaluation.json").read_text())
    assert not report["passed"] and [g["metric"] for g in report["gates"] if not g["passed"]] == ["ece"]


@then("the registry's versions and aliases are unchanged")
def unchanged(state: dict) -> None:
    assert (_versions(), (REGISTRY / "aliases.json").read_text()) == state["before"]
