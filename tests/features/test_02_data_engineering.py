"""Stage 2, data engineering (02_data_engineering.feature): data contracts,
feature parity, and a source switched from files to a stream.

Spec edits, `specops` runs, the runtime steps on generated data and the
exit-code step are shared (conftest.py).  The validate-data runs here are
real processes, exactly as a DVC stage runs them; the stream scenario runs
a real ingester (`python -m runtime ingest`) against the machine's NATS."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from pytest_bdd import given, parsers, scenarios, then, when

import runtime.features.online as online
from runtime.contracts.steps import GeneratorConfig, IngestConfig
from runtime.data.generator import iter_events
from runtime.features.online import OnlineEngine
from runtime.features.store import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from stream_harness import IngesterProcess, StreamNames, delete_streams, free_port, require_service  # noqa: E402

scenarios("02_data_engineering.feature")

# The shared steps' fixture `lint_ci` (conftest.LintCI: root, run) is used by
# name; `from conftest import ...` would be ambiguous (tests/ has several).


def q(name: str) -> str:
    return f'"(?P<{name}>[^"]*)"'


def line_of(lint_ci, text: str, file: str) -> int:
    lines = (lint_ci.root / file).read_text(encoding="utf-8").splitlines()
    hits = [n for n, line in enumerate(lines, 1) if text in line]
    assert len(hits) == 1, f"{text!r} occurs on lines {hits} of {file}"
    return hits[0]


# ------------------------------------------------------------------ data contracts


@pytest.fixture
def step_runs() -> list[subprocess.CompletedProcess[str]]:
    return []


def _work(lint_ci, model: str) -> Path:
    return lint_ci.root / ".specops" / "work" / model


@when(parsers.re(rf"I run the runtime step {q('step')} with {q('config')}"))
def run_step(lint_ci, step_runs: list, step: str, config: str) -> None:
    step_runs.append(subprocess.run([sys.executable, "-m", "runtime", step, "--config", config], cwd=lint_ci.root,
                                    capture_output=True, text=True, timeout=600))


@then(parsers.parse("the step exit code is {code:d}"))
def step_exit(step_runs: list, code: int) -> None:
    last = step_runs[-1]
    assert last.returncode == code, f"{last.args}: exit {last.returncode}\n{last.stdout}\n{last.stderr}"
    assert "Traceback" not in last.stderr


@then(parsers.re(rf"the validated snapshot of {q('model')} accounts for every row of {q('source')}"))
def accounts(lint_ci, model: str, source: str) -> None:
    snapshot = _work(lint_ci, model) / "validated"
    lineage = json.loads((snapshot / "lineage.json").read_text())
    ds = next(d for d in lineage["datasets"] if d["name"] == source)
    assert ds["rows_in"] == ds["rows_out"] + ds["quarantined"] + ds["dropped"], ds
    raw = sum(f["rows"] for f in ds["source"]["files"])
    assert raw == ds["rows_in"]
    assert pq.read_metadata(snapshot / f"{source}.parquet").num_rows == ds["rows_out"]
    assert pq.read_metadata(snapshot / "quarantine" / f"{source}.parquet").num_rows == ds["quarantined"] > 0


@then(parsers.re(r'the quarantine of "(?P<source>[^"]+)" holds rows for (?P<rules>.+)'))
def quarantine_holds(lint_ci, source: str, rules: str) -> None:
    wanted = [r.strip().strip('"') for r in rules.replace(" and ", ", ").split(",")]
    table = pq.read_table(next(lint_ci.root.glob(f".specops/work/*/validated/quarantine/{source}.parquet")))
    violations = table["_violation"].to_pylist()
    for rule in wanted:
        assert any(rule in v for v in violations), f"no quarantined row for {rule!r}"


@then(parsers.re(rf"the data report of {q('model')} fails {q('rule')} on {q('column')} with example rows"))
def report_fails(lint_ci, model: str, rule: str, column: str) -> None:
    report = json.loads((_work(lint_ci, model) / "reports" / "data.json").read_text())
    assert report["passed"] is False
    failed = [r for d in report["datasets"] for r in d["contract"]["results"] if r["status"] == "fail"]
    hit = next((r for r in failed if r["rule"] == rule and r["column"] == column), None)
    assert hit is not None, [(r["rule"], r["column"]) for r in failed]
    assert hit["count"] > 0 and hit["examples"], hit


@then(parsers.re(rf"the step's error output names {q('text')}"))
def stderr_names(step_runs: list, text: str) -> None:
    assert text in step_runs[-1].stderr, step_runs[-1].stderr


@then(parsers.re(rf"there is no validated snapshot of {q('model')}"))
def no_snapshot(lint_ci, model: str) -> None:
    assert not (_work(lint_ci, model) / "validated").exists()


@then(parsers.re(rf"no validated row of {q('source')} has asset type {q('kind')}"))
def no_row_of_type(lint_ci, source: str, kind: str) -> None:
    table = pq.read_table(next(lint_ci.root.glob(f".specops/work/*/validated/{source}.parquet")))
    assert pc.sum(pc.equal(table["asset_type"], kind)).as_py() in (None, 0)


@then(parsers.re(rf"the output contains a located warning {q('code')} at the line of {q('text')} in {q('file')}"))
def located_warning(lint_ci, code: str, text: str, file: str) -> None:
    assert lint_ci.run is not None
    line = line_of(lint_ci, text, file)
    pattern = re.compile(rf"^{re.escape(file)}:{line}:\d+: warning\[{code}\]: ", re.MULTILINE)
    assert pattern.search(lint_ci.run.stdout), lint_ci.run.stdout


# ------------------------------------------------------------------ training-serving parity


@given("a serving build whose online engine counts one event too many at window boundaries")
def skewed_online_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    def one_too_many(series, at, window_us):
        lo, hi = series.bounds(at - window_us, at)
        return max(lo - 1, 0), hi

    monkeypatch.setattr(online, "window_bounds", one_too_many)


@then("the parity report lists each mismatch with entity, time, feature and both values")
def parity_report(lint_ci) -> None:
    report = json.loads((lint_ci.root / ".specops/work/pump-failure/reports/parity.json").read_text())
    assert report["ok"] is False and report["mismatch_count"] == len(report["mismatches"]) > 0
    for m in report["mismatches"]:
        assert m["entity"] and m["time"].endswith("Z") and m["feature"]
        assert m["batch"] != m["online"]


@then(parsers.re(rf"in {q('file')} the stage {q('stage')} needs the output of {q('upstream')}"))
def stage_needs(lint_ci, file: str, stage: str, upstream: str) -> None:
    stages = yaml.safe_load((lint_ci.root / file).read_text())["stages"]
    assert set(stages[upstream]["outs"]) & set(stages[stage]["deps"]), f"{stage} does not wait for {upstream}"


# ------------------------------------------------------------------ from files to a stream

# Release configurations are content-addressed by the lineage, which names the sources: they get new names.
_RENAMED = re.compile(r"^generated/[^/]+/configmap-pump-failure-(serve|edge)-")


@dataclass
class Stream:
    names: StreamNames = field(default_factory=StreamNames.new)
    ingester: IngesterProcess | None = None
    config: IngestConfig | None = None
    published: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def stream() -> Iterator[Stream]:
    state = Stream()
    yield state
    try:
        if state.ingester is not None:
            rc = state.ingester.terminate()
            assert rc == 0, state.ingester.log()
    finally:
        if state.ingester is not None or state.published:
            delete_streams(state.names.stream, f"{state.names.stream}_DEAD_LETTER")


@given("NATS JetStream is running")
def nats_running() -> None:
    require_service("NATS", "127.0.0.1", 4222)


@when(parsers.re(rf"I point {q('source')} in {q('file')} at a new NATS stream instead of its files"))
def point_at_stream(lint_ci, shared_steps, stream: Stream, source: str, file: str) -> None:
    path = lint_ci.root / file
    text = shared_steps.remove(path.read_text(encoding="utf-8"), "spec.file", source)
    _, _, node = shared_steps.locate(text, "spec.type", source)
    assert node.value == "file", node.value
    n = stream.names
    block = (f"stream\n  stream:\n    url: nats://127.0.0.1:4222\n    subject: {n.subject}\n"
             f"    stream: {n.stream}\n    durable: {n.durable}")
    path.write_text(text[:node.start_mark.index] + block + text[node.end_mark.index:], encoding="utf-8")


@then("the compile created exactly these files, besides release configurations renamed by the new lineage hash:")
def created_exactly(lint_ci, shared_steps, datatable: list[list[str]]) -> None:
    listed = shared_steps.listed_files(lint_ci)
    created = sorted(p for s, p in listed if s == "created" and not _RENAMED.match(p))
    assert created == sorted(row[0].strip() for row in datatable[1:]), listed
    others = [(s, p) for s, p in listed if s != "created" and not _RENAMED.match(p)]
    assert all(s == "updated" for s, _ in others), others  # nothing else is deleted
    # Each renamed configuration is one created and one deleted file of the same release.
    renamed = Counter((s, p.rsplit("-", 1)[0]) for s, p in listed if _RENAMED.match(p))
    assert {k[1] for k in renamed if k[0] == "created"} == {k[1] for k in renamed if k[0] == "deleted"}, renamed
    assert set(renamed.values()) <= {1} and {k[0] for k in renamed} <= {"created", "deleted"}, renamed


def _single(lint_ci, file: str) -> dict[str, Any]:
    (doc,) = yaml.safe_load_all((lint_ci.root / file).read_bytes())
    return doc


@then(parsers.re(rf"{q('file')} runs {q('args')}, ready on {q('probe')}"))
def deployment_runs(lint_ci, file: str, args: str, probe: str) -> None:
    deployment = _single(lint_ci, file)
    assert deployment["kind"] == "Deployment"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == args.split()
    assert container["readinessProbe"]["httpGet"] == {"path": probe, "port": 8080}


@then(parsers.re(rf"the cluster's ingest config reads the online store's URL from {q('env')}"))
def cluster_store_from_env(lint_ci, env: str) -> None:
    for environment in ("staging", "prod"):
        config_map = _single(lint_ci, f"generated/{environment}/configmap-ingest-sensor-events-config.yaml")
        cluster = IngestConfig.model_validate_json(config_map["data"]["ingest.json"])
        assert cluster.online_store.url_env == env and cluster.online_store.url is None
        deployment = _single(lint_ci, f"generated/{environment}/deployment-ingest-sensor-events.yaml")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert env in {e["name"] for e in container["env"]}


@then(parsers.re(rf"{q('file')} reads the new stream into feature set {q('feature_set')}"))
def local_config(lint_ci, stream: Stream, file: str, feature_set: str) -> None:
    config = IngestConfig.model_validate_json((lint_ci.root / file).read_text())
    n = stream.names
    assert (config.source.type, config.source.subject, config.source.stream) == ("stream", n.subject, n.stream)
    assert [fs.name for fs in config.feature_sets] == [feature_set]
    stream.config = config


@when(parsers.re(rf"an ingester runs on {q('file')}"))
def ingester_runs(lint_ci, stream: Stream, file: str) -> None:
    # The compiled local config, unchanged except the health port (8080 may be taken on a shared machine).
    run_config = lint_ci.root / "ingest-run.json"
    run_config.write_text(json.dumps({**json.loads((lint_ci.root / file).read_text()), "port": free_port()}))
    stream.ingester = IngesterProcess(run_config, lint_ci.root)


@when(parsers.re(r"half a day of generated events of (?P<assets>\d+) assets is published to the stream"))
def publish(lint_ci, stream: Stream, assets: str) -> None:
    generator = GeneratorConfig(seed=11, assets=int(assets), days=0.5)
    (lint_ci.root / "generator.json").write_text(generator.model_dump_json())
    stream.published = list(iter_events(generator))
    proc = subprocess.run([sys.executable, "-m", "runtime", "publish", "--stream-config",
                           "generated/runtime/ingest-sensor-events/ingest.json", "--generate", "--generator",
                           "generator.json"], cwd=lint_ci.root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"published {len(stream.published)} event(s) to {stream.names.subject}" in proc.stdout


@then("the ingester applies every published event, with no duplicates and nothing dead-lettered")
def applied_all(stream: Stream) -> None:
    assert stream.ingester is not None and stream.published
    stream.ingester.wait_metric("applied", len(stream.published), timeout=90)
    m = stream.ingester.metrics()
    assert (m["applied"], m["duplicates"], m["dead_lettered"]) == (len(stream.published), 0, 0)


@then("the online store counts every published event of its asset in the 24h window")
def online_counts(lint_ci, stream: Stream) -> None:
    assert stream.config is not None and stream.ingester is not None
    assert stream.ingester.terminate() == 0, stream.ingester.log()  # flushed and closed: the store is complete
    # The embedded-default store the compiled config names, read with the same engine the predictor uses.
    assert stream.config.online_store.url == "sqlite:///.specops/online/features.sqlite"
    engine = OnlineEngine(stream.config.feature_sets,
                          open_store(f"sqlite:///{lint_ci.root}/.specops/online/features.sqlite"))
    per_asset = Counter(e["asset_id"] for e in stream.published)
    assert len(per_asset) > 1
    for asset, n in per_asset.items():
        last = max(e["event_time"] for e in stream.published if e["asset_id"] == asset)
        assert engine.read(asset, last)["events_count_24h"] == n, asset
