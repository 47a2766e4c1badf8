#!/usr/bin/env python
"""Benchmark: how long ``specops lint`` takes as a spec tree grows.

Workload
--------
Spec trees of 100, 1,000 and 5,000 resources are generated in a temporary
directory.  Each tree is one ``System`` (the example's three environments and
two notifiers), the three risk policies copied from ``policies/`` (they select
models by risk tier or select every model, so policy evaluation is part of the
cost), and many copies of a "unit" modelled on the example system in
``specs/``:

* DataSources ``sensor-events-NNNNN`` (file), ``sensor-stream-NNNNN`` (stream)
  and ``failure-labels-NNNNN`` (labels);
* FeatureSet ``asset-health-NNNNN``;
* Model ``pump-failure-NNNNN`` (risk tier cycles high, medium, critical, low;
  high/critical models are served on the edge and have human review, like the
  example; low/medium ones are cloud-only);
* ServiceLevel ``pump-failure-NNNNN``;
* ModelReleases ``pump-failure-NNNNN-1-3-0`` (champion) and
  ``pump-failure-NNNNN-1-4-0`` (challenger; omitted in a few units so the
  resource count is exact).

Units are grouped two per file and files are spread over ``data/``,
``features/``, ``models/``, ``slos/`` and ``releases/`` like a real repo
(about three documents per file).  Every tree must lint clean (0 errors and
0 warnings); this is asserted once per size before anything is timed.

What is measured (in-process, one Python interpreter)
----------------------------------------------------
* ``lint``  -- ``compiler.lint.lint_paths([specs, policies])``: directory walk,
  file reads, load, validate, resolve, every check, diagnostic sort;
* ``floor`` -- the least any linter of these files must do: the same directory
  walk and file reads, ``yaml.load_all(..., Loader=yaml.CSafeLoader)`` and
  ``KINDS[doc['kind']].model_validate(doc)`` for every document;
* ``cli``   -- for reference only, the wall time of ``python -m compiler lint
  specs/`` in a subprocess (interpreter start-up and imports included);
* a stage breakdown at 1,000 resources: the stage functions of
  ``lint_sources`` called one by one (read, load, validate, resolve, each
  check in ``compiler.checks.CHECKS``, sort).

Every timing is the median of N repeats (``time.perf_counter``; 5 repeats for
100 and 1,000 resources, 3 for 5,000; ``--quick``: 100 and 1,000 only, 3
repeats).  The process CPU time (``time.process_time``) of the same repeats
is recorded too: on a shared machine it is the steadier figure, so the table
shows both and the JSON records the load average before and after.
``gc.collect()`` runs before each repeat; the garbage collector stays enabled
during it, as in a real run.  The correctness run before timing doubles as
the warm-up (imports); nothing is cached across lint runs (each lint compiles
its CEL rules afresh).

Targets from the issue are reported, never asserted:
1,000 resources in <= 1 s on this machine, and t(5,000) <= 5.5 x t(1,000).

Results are printed as a table and written to ``bench/results/lint.json``
(with machine information and a timestamp).  ``--profile`` additionally runs
cProfile over one lint of the largest size and prints the hot spots.

Usage (from the repository root)::

    python bench/lint/bench_lint.py [--quick] [--profile] [--no-cli]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import importlib.metadata
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from compiler.checks import CHECKS
from compiler.diagnostics import Severity, sort_diagnostics
from compiler.lint import lint_paths
from compiler.load import load, read_sources
from compiler.resolve import resolve
from compiler.spec import KINDS
from compiler.validate import validate

REPO = Path(__file__).resolve().parents[2]
POLICIES_DIR = REPO / "policies"
RESULTS_PATH = REPO / "bench" / "results" / "lint.json"

SIZES_FULL = ((100, 5), (1000, 5), (5000, 3))
SIZES_QUICK = ((100, 3), (1000, 3))
BREAKDOWN_SIZE = 1000
TARGET_1000_S = 1.0
TARGET_SCALING = 5.5
UNITS_PER_FILE = 2
TIERS = ("high", "medium", "critical", "low")

# --------------------------------------------------------------------------
# Spec tree generation
# --------------------------------------------------------------------------

HEADER = "# yaml-language-server: $schema=../../docs/reference/specops.schema.json\n"

SYSTEM = """\
# yaml-language-server: $schema=../docs/reference/specops.schema.json
# The predictive-maintenance system: where it runs and how it is promoted.
apiVersion: specops.dev/v1alpha1
kind: System
metadata:
  name: predictive-maintenance
  description: Predicts pump and turbine failures within 24 h from sensor events.
spec:
  owner: reliability-ml@acme.example
  gitops:
    repoUrl: https://git.acme.example/platform/predictive-maintenance.git
    targetRevision: main
    path: generated
  runtime:
    repository: ghcr.io/acme/specops-runtime
    tag: 0.1.0
    digest: sha256:4f6c1c9be0cbb0f1c3c8e6b5a8e3c0d9f7b2a1e4d5c6b7a8f9e0d1c2b3a4f5e6
  artifacts:
    uri: s3://acme-ml-artifacts/predictive-maintenance
    credentials:
      secretRef: {name: artifact-store, key: credentials}
  environments:
    - name: staging
      namespace: pm-staging
      promotionOrder: 1
      cluster: in-cluster
    - name: prod
      namespace: pm-prod
      promotionOrder: 2
      production: true
      cluster: https://prod.k8s.acme.example
      requiredApprovals: 1
      sync: {automated: true, prune: false, selfHeal: true}
    - name: edge
      kind: edge
      namespace: pm-edge
      promotionOrder: 3
      production: true
      clusterSelector:
        matchLabels: {specops.dev/edge-gateway: "true"}
      requiredApprovals: 1
  notifiers:
    - name: oncall
      type: webhook
      url:
        secretRef: {name: oncall-webhook, key: url}
    - name: console
      type: stdout
  reviewStore:
    backend: postgres
    connection:
      secretRef: {name: review-db, key: dsn}
  edge:
    trustedKey:
      configMapRef: {name: edge-trust, key: ed25519.pub}
    signingKey:
      secretRef: {name: edge-signing, key: ed25519.key}
"""

DATA = """\
# Raw sensor events of fleet {u}: irregular times, late and out-of-order arrivals.
apiVersion: specops.dev/v1alpha1
kind: DataSource
metadata:
  name: sensor-events-{u}
spec:
  type: file
  file:
    path: data/events/{u}/*.parquet
    format: parquet
  entity: asset_id
  timestamp: event_time
  fields:
    - {{name: asset_id, type: string}}
    - {{name: event_time, type: timestamp}}
    - {{name: asset_type, type: category, values: [pump, turbine, compressor]}}
    - {{name: criticality, type: category, values: [low, medium, high, critical]}}
    - {{name: temperature, type: float, nullable: true, min: -40, max: 200, unit: C}}
    - {{name: vibration, type: float, nullable: true, min: 0, max: 50, unit: mm/s}}
    - {{name: pressure, type: float, nullable: true, min: 0, max: 400, unit: bar}}
    - {{name: rpm, type: float, nullable: true, min: 0, max: 20000}}
    - {{name: technician_email, type: string, nullable: true, pii: true}}
  quality:
    maxNullFraction: 0.05
    maxDuplicateFraction: 0.02
    maxOutOfRangeFraction: 0.01
    minRows: 1000
  freshness:
    maxAge: 30m
  lateEvents:
    allowedLateness: 2h
    policy: quarantine
  quarantine:
    action: quarantine
    maxBadFraction: 0.05
  retention: 400d
---
# The same events as a stream (NATS JetStream) for online features and serving.
apiVersion: specops.dev/v1alpha1
kind: DataSource
metadata:
  name: sensor-stream-{u}
spec:
  type: stream
  stream:
    url: nats://127.0.0.1:4222
    subject: pm.sensor.events.{u}
    stream: PM_SENSOR_{u}
    durable: pm-ingester-{u}
  entity: asset_id
  timestamp: event_time
  fields:
    - {{name: asset_id, type: string}}
    - {{name: event_time, type: timestamp}}
    - {{name: asset_type, type: category, values: [pump, turbine, compressor]}}
    - {{name: criticality, type: category, values: [low, medium, high, critical]}}
    - {{name: temperature, type: float, nullable: true, min: -40, max: 200, unit: C}}
    - {{name: vibration, type: float, nullable: true, min: 0, max: 50, unit: mm/s}}
    - {{name: pressure, type: float, nullable: true, min: 0, max: 400, unit: bar}}
    - {{name: rpm, type: float, nullable: true, min: 0, max: 20000}}
  freshness:
    maxAge: 5m
  lateEvents:
    allowedLateness: 15m
    policy: reprocess
  retention: 30d
---
# Confirmed failures from maintenance tickets of fleet {u}: known only hours to days later.
apiVersion: specops.dev/v1alpha1
kind: DataSource
metadata:
  name: failure-labels-{u}
spec:
  type: labels
  file:
    path: data/labels/{u}/*.parquet
  entity: asset_id
  timestamp: failure_time
  fields:
    - {{name: asset_id, type: string}}
    - {{name: failure_time, type: timestamp}}
    - {{name: failed, type: bool}}
    - {{name: ticket_id, type: string}}
  labels:
    outcome: failed
    positiveValue: true
    availabilityDelay: 48h
    expectedPositiveRate: 0.03
  quality:
    maxDuplicateFraction: 0.0
    minRows: 10
"""

FEATURES = """\
# Windowed health indicators per asset of fleet {u}, computed once for training and serving.
apiVersion: specops.dev/v1alpha1
kind: FeatureSet
metadata:
  name: asset-health-{u}
spec:
  source:
    dataSource: sensor-events-{u}
  entity: asset_id
  attributes: [asset_type, criticality]
  transforms:
    - name: temp_pressure_ratio
      expression: temperature / nullif(pressure, 0)
      inputs: [temperature, pressure]
  aggregations:
    - column: vibration
      functions: [mean, max, std]
      windows: [1h, 24h, 7d]
    - column: temperature
      functions: [mean, max]
      windows: [1h, 24h]
    - column: pressure
      functions: [mean, min]
      windows: [24h]
    - functions: [count, time_since_last]
      windows: [1h, 24h]
  online:
    ttl: 2d
    stream: sensor-stream-{u}
"""

MODEL = """\
# Failure within the next 24 h for fleet {u} (risk tier {tier}).
apiVersion: specops.dev/v1alpha1
kind: Model
metadata:
  name: pump-failure-{u}
  labels: {{team: reliability-{team}}}
spec:
  task: binary_classification
  entity: asset_id
  label:
    source: failure-labels-{u}
    horizon: 24h
  features:
    - featureSet: asset-health-{u}
  algorithm:
    type: lightgbm
    params: {{num_leaves: 31, learning_rate: 0.05, n_estimators: 400, min_child_samples: 20}}
    seed: 7
  baseline:
    type: logistic_regression
    params: {{C: 1.0}}
  imbalance:
    strategy: scale_pos_weight
  validation:
    folds: 4
    testWindow: 7d
    gap: 24h
    minTrainWindow: 60d
    earlyStoppingRounds: 50
  calibration:
    method: isotonic
  threshold:
    strategy: cost
    falseNegativeCost: 50
    falsePositiveCost: 1
  gates:
    - {{metric: pr_auc, min: 0.25}}
    - {{metric: recall_at_precision, at: 0.5, min: 0.3}}
    - {{metric: ece, max: 0.05}}
    - {{metric: onnx_parity_max_abs_diff, max: 0.0001}}
  challenger:
    metric: pr_auc
    tolerance: 0.01
  export:
    onnx: {{opset: 17, parityTolerance: 0.0001}}
    edge: {{enabled: {edge}, maxSizeBytes: 2097152, maxLatencyMs: 10, allowTreeTruncation: true}}
  serving:
    environments: [{envs}]
    resources: {{cpu: 500m, memory: 512Mi, cpuLimit: "1", memoryLimit: 1Gi}}
    replicas: {{min: 2, max: 6}}
    timeout: 2s
    canary:
      steps: [10, 25, 50, 100]
      analysis: {{interval: 15m, maxErrorRate: 0.01, maxLatencyP99Ms: 200, maxScorePsi: 0.2, minRequests: 300}}
    shadow: false
    maxFeatureAge: 2h
  risk:
    tier: {tier}
{review}  retrain:
    schedule: "0 3 * * 1"
    trainingWindow: 180d
    triggers: [schedule, drift, performance]
"""

REVIEW = """\
  review:
    timeout: 30m
    escalation: second_reviewer
    conservativeAction: hold
    notify: [oncall]
"""

SLO = """\
# What "working" means for pump-failure-{u}, and what happens when it is not.
apiVersion: specops.dev/v1alpha1
kind: ServiceLevel
metadata:
  name: pump-failure-{u}
spec:
  model: pump-failure-{u}
  objectives:
    - {{name: latency, metric: latency_p99, max: 250ms, window: 5m, actions: [rollback], severity: page}}
    - {{name: errors, metric: error_rate, max: 0.01, window: 5m, actions: [open_circuit, page], severity: page}}
    - {{name: availability, metric: availability, min: 0.995, window: 1h, actions: [page], severity: page}}
    - {{name: freshness, metric: feature_freshness, max: 30m, window: 15m, actions: [open_circuit, page]}}
    - {{name: estimated-quality, metric: estimated_pr_auc, min: 0.2, window: 24h, actions: [retrain]}}
    - {{name: realized-quality, metric: realized_pr_auc, min: 0.2, window: 7d, actions: [retrain, page]}}
    - {{name: drift, metric: feature_drift_share, max: 0.3, window: 6h, actions: [retrain]}}
    - {{name: skew, metric: skew_mismatch_rate, max: 0.01, window: 1h, actions: [page]}}
    - {{name: review-backlog, metric: review_backlog, max: 50, window: 1h, actions: [page]}}
  circuitBreaker:
    failureThreshold: 5
    window: 30s
    openFor: 60s
    halfOpenRequests: 3
    fallback: human_review
  drift:
    psiWarning: 0.1
    psiAlert: 0.25
    pValue: 0.01
    correction: benjamini_hochberg
    persistence: 2
    window: 1h
  notify: [oncall]
"""

RELEASE = """\
# {comment}
apiVersion: specops.dev/v1alpha1
kind: ModelRelease
metadata:
  name: pump-failure-{u}-{vname}
spec:
  model: pump-failure-{u}
  version: {version}
  artifact:
    uri: s3://acme-ml-artifacts/predictive-maintenance/pump-failure-{u}/{version}/model.onnx
    sha256: {sha}
    sizeBytes: {size}
  trainingData:
    hash: {data_hash}
    start: {start}
    end: {end}
  metrics: {{pr_auc: 0.34, roc_auc: 0.91, recall_at_precision_0_5: 0.41, ece: 0.021, brier: 0.024}}
  approvals:
    - {{approver: dana@acme.example, role: ml-lead, date: {approve1}, reason: Backtest and calibration reviewed}}
    - {{approver: omar@acme.example, role: risk-officer, date: {approve2}, reason: Escalation rules verified for critical assets}}
  deployments:
{deployments}"""


def _hex(seed: str) -> str:
    import hashlib

    return hashlib.sha256(seed.encode()).hexdigest()


def _unit_docs(i: int, with_challenger: bool) -> dict[str, list[str]]:
    """The documents of unit ``i`` per folder (each string is one YAML document)."""
    u = f"{i:05d}"
    tier = TIERS[i % len(TIERS)]
    on_edge = tier in ("high", "critical")
    model = MODEL.format(
        u=u, tier=tier, team=i % 7, edge="true" if on_edge else "false",
        envs="staging, prod, edge" if on_edge else "staging, prod",
        review=REVIEW if on_edge else "",
    )
    champion_deps = "    - {environment: prod, role: champion}\n"
    if on_edge:
        champion_deps += "    - {environment: edge, role: champion}\n"
    releases = [
        RELEASE.format(
            u=u, comment="The current champion in production" + (" and on the edge gateways." if on_edge else "."),
            vname="1-3-0", version="1.3.0", sha=_hex(f"{u}-1.3.0"), size=1483264, data_hash=_hex(f"{u}-data-1.3.0"),
            start="2026-04-01", end="2026-09-30", approve1="2026-10-03", approve2="2026-10-04", deployments=champion_deps,
        )
    ]
    if with_challenger:
        releases.append(
            RELEASE.format(
                u=u, comment="The challenger: 10% canary in production, champion in staging.",
                vname="1-4-0", version="1.4.0", sha=_hex(f"{u}-1.4.0"), size=1502720, data_hash=_hex(f"{u}-data-1.4.0"),
                start="2026-05-01", end="2026-10-31", approve1="2026-11-10", approve2="2026-11-11",
                deployments="    - {environment: staging, role: champion}\n    - {environment: prod, role: canary, canaryStep: 0}\n",
            )
        )
    return {
        "data": DATA.format(u=u).split("---\n"),
        "features": [FEATURES.format(u=u)],
        "models": [model],
        "slos": [SLO.format(u=u)],
        "releases": releases,
    }


def unit_plan(resources: int) -> tuple[int, int]:
    """(full units of 8 resources, short units of 7) so that the tree has exactly ``resources``."""
    rest = resources - 4  # the System and the three policies
    if rest < 0:
        raise ValueError("a tree has at least 4 resources")
    short = (-rest) % 8  # 8a + 7b = rest  <=>  b = -rest (mod 8)
    full, remainder = divmod(rest - 7 * short, 8)
    if full < 0 or remainder:
        raise ValueError(f"cannot build exactly {resources} resources")
    return full, short


def generate_tree(root: Path, resources: int) -> dict[str, Any]:
    """Write a spec tree of exactly ``resources`` resources under ``root``; return its shape."""
    full, short = unit_plan(resources)
    units = full + short
    specs = root / "specs"
    (specs).mkdir(parents=True)
    (specs / "system.yaml").write_text(SYSTEM, encoding="utf-8")
    policies = root / "policies"
    policies.mkdir()
    for p in sorted(POLICIES_DIR.glob("*.yaml")):
        shutil.copy(p, policies / p.name)
    files = 1 + len(list(policies.glob("*.yaml")))
    docs = 4
    size = sum(p.stat().st_size for p in (specs / "system.yaml", *policies.glob("*.yaml")))
    # Spread the short units evenly (every k-th unit has no challenger release).
    short_at = {round(j * units / short) for j in range(short)} if short else set()
    for start in range(0, units, UNITS_PER_FILE):
        group: dict[str, list[str]] = {}
        for i in range(start, min(start + UNITS_PER_FILE, units)):
            for folder, items in _unit_docs(i, with_challenger=i not in short_at).items():
                group.setdefault(folder, []).extend(items)
        for folder, items in group.items():
            path = specs / folder / f"fleet-{start:05d}.yaml"
            path.parent.mkdir(exist_ok=True)
            text = HEADER + "---\n".join(items)
            path.write_text(text, encoding="utf-8")
            files += 1
            docs += len(items)
            size += len(text.encode())
    assert docs == resources, (docs, resources)
    return {"resources": resources, "units": units, "units_without_challenger": short, "files": files,
            "documents": docs, "bytes": size}


# --------------------------------------------------------------------------
# What is timed
# --------------------------------------------------------------------------


def run_lint(root: Path):
    return lint_paths([root / "specs", root / "policies"], base=str(root))


def run_floor(root: Path) -> int:
    """Walk, read, YAML-parse (C loader) and pydantic-validate every document."""
    count = 0
    for top in (root / "specs", root / "policies"):
        for path in sorted(top.rglob("*")):
            if path.suffix not in (".yaml", ".yml") or not path.is_file():
                continue
            text = path.read_bytes().decode("utf-8-sig")
            for doc in yaml.load_all(text, Loader=yaml.CSafeLoader):
                if doc is None:
                    continue
                KINDS[doc["kind"]].model_validate(doc)
                count += 1
    return count


def stage_times(root: Path) -> list[tuple[str, float, float]]:
    """One lint, stage by stage, as ``lint_sources`` runs it (plus the disk read): (stage, wall s, cpu s)."""
    out: list[tuple[str, float, float]] = []
    clock = [time.perf_counter(), time.process_time()]

    def lap(name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        out.append((name, wall - clock[0], cpu - clock[1]))
        clock[:] = [time.perf_counter(), time.process_time()]

    files, problems = read_sources([root / "specs", root / "policies"], base=str(root))
    lap("read")
    loaded = load(files)
    lap("load")
    validated = validate(loaded.documents)
    lap("validate")
    # Mirrors compiler.lint.lint_sources (documents that failed validation go to resolve too, when supported).
    invalid = getattr(validated, "invalid", None)
    resolved = resolve(validated.nodes, invalid) if invalid is not None else resolve(validated.nodes)
    lap("resolve")
    checked = []
    for name, check in CHECKS:
        checked.extend(check(resolved.spec))
        lap(f"check:{name}")
    sort_diagnostics((*problems, *loaded.diagnostics, *validated.diagnostics, *resolved.diagnostics, *checked))
    lap("sort")
    return out


def timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], list[float]]:
    """(wall seconds, process CPU seconds) of each repeat."""
    wall, cpu = [], []
    for _ in range(repeats):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def cli_times(root: Path, repeats: int) -> list[float]:
    cmd = [sys.executable, "-m", "compiler", "lint", "specs/", "--no-color"]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"CLI lint failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return times


def summary(times: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "all": times}


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def check_clean(root: Path, resources: int) -> int:
    result = run_lint(root)
    counts = result.counts()
    if counts["error"] or len(result.spec.nodes) != resources:
        print(f"generated tree of {resources} resources does not lint clean: {counts}, "
              f"{len(result.spec.nodes)} resources resolved", file=sys.stderr)
        for d in result.diagnostics[:10]:
            print(f"  {d.location}: {d.severity.value}[{d.code}]: {d.message}", file=sys.stderr)
        raise SystemExit(1)
    floor_docs = run_floor(root)
    assert floor_docs == resources, (floor_docs, resources)
    return counts["warning"]


LINT_DISTS = ("pydantic", "pydantic-core", "PyYAML", "networkx", "common-expression-language")


def versions(dists: tuple[str, ...] = LINT_DISTS) -> dict[str, str]:
    out = {}
    for dist in dists:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def run_header(mode: str, dists: tuple[str, ...], load_before: Any) -> dict[str, Any]:
    """The machine and software facts every results file starts with (shared with bench/compile)."""
    return {
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "mode": mode,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "versions": versions(dists),
        "loadavg_1_5_15": {"before": load_before, "after": os.getloadavg()},
    }


def write_results(path: Path, result: dict[str, Any]) -> None:
    """Write a results file atomically (a half-written file never replaces a good one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_suffix(".json.tmp")
    tmp_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    tmp_path.replace(path)


def profile_lint(root: Path, top: int = 25) -> str:
    prof = cProfile.Profile()
    prof.enable()
    run_lint(root)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="100 and 1,000 resources only, 3 repeats")
    ap.add_argument("--profile", action="store_true", help="cProfile one lint of the largest size and print hot spots")
    ap.add_argument("--no-cli", action="store_true", help="skip the subprocess timing of `python -m compiler lint`")
    ap.add_argument("--output", type=Path, default=RESULTS_PATH, help="where to write the JSON results")
    args = ap.parse_args(argv)
    plan = SIZES_QUICK if args.quick else SIZES_FULL

    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    breakdown: dict[str, Any] | None = None
    profile_text = None
    with tempfile.TemporaryDirectory(prefix="specops-bench-lint-") as tmp:
        for resources, repeats in plan:
            root = Path(tmp) / f"tree-{resources}"
            shape = generate_tree(root, resources)
            warnings = check_clean(root, resources)  # also the warm-up
            lint_t, lint_cpu = timed(lambda: run_lint(root), repeats)
            floor_t, floor_cpu = timed(lambda: run_floor(root), repeats)
            row = {**shape, "repeats": repeats, "warnings": warnings,
                   "lint_s": summary(lint_t), "floor_s": summary(floor_t),
                   "lint_cpu_s": summary(lint_cpu), "floor_cpu_s": summary(floor_cpu)}
            row["lint_us_per_resource"] = row["lint_s"]["median"] / resources * 1e6
            row["floor_us_per_resource"] = row["floor_s"]["median"] / resources * 1e6
            row["lint_over_floor"] = row["lint_s"]["median"] / row["floor_s"]["median"]
            if not args.no_cli:
                row["cli_s"] = summary(cli_times(root, min(repeats, 3)))
            rows.append(row)
            if resources == BREAKDOWN_SIZE:
                runs = []
                for _ in range(repeats):
                    gc.collect()
                    runs.append(stage_times(root))
                names = [r[0] for r in runs[0]]
                med = {n: statistics.median(r[k][1] for r in runs) for k, n in enumerate(names)}
                med_cpu = {n: statistics.median(r[k][2] for r in runs) for k, n in enumerate(names)}
                total, total_cpu = sum(med.values()), sum(med_cpu.values())
                breakdown = {"resources": resources, "repeats": repeats, "sum_of_medians_s": total,
                             "sum_of_medians_cpu_s": total_cpu,
                             "stages": [{"stage": n, "median_s": med[n], "median_cpu_s": med_cpu[n],
                                         "share_cpu": med_cpu[n] / total_cpu} for n in names]}
            print(f"  {resources:>5} resources: lint {row['lint_s']['median']:.3f} s, floor {row['floor_s']['median']:.3f} s",
                  file=sys.stderr, flush=True)
        if args.profile:
            profile_text = profile_lint(Path(tmp) / f"tree-{plan[-1][0]}")

    by_size = {r["resources"]: r for r in rows}
    scaling = None
    if 1000 in by_size and 5000 in by_size:
        scaling = {
            "lint_5000_over_1000": by_size[5000]["lint_s"]["median"] / by_size[1000]["lint_s"]["median"],
            "floor_5000_over_1000": by_size[5000]["floor_s"]["median"] / by_size[1000]["floor_s"]["median"],
            "lint_cpu_5000_over_1000": by_size[5000]["lint_cpu_s"]["median"] / by_size[1000]["lint_cpu_s"]["median"],
            "floor_cpu_5000_over_1000": by_size[5000]["floor_cpu_s"]["median"] / by_size[1000]["floor_cpu_s"]["median"],
        }
    targets = {
        "lint_1000_le_1s": {"target_s": TARGET_1000_S,
                            "measured_s": by_size[1000]["lint_s"]["median"] if 1000 in by_size else None,
                            "measured_cpu_s": by_size[1000]["lint_cpu_s"]["median"] if 1000 in by_size else None,
                            "met": (by_size[1000]["lint_s"]["median"] <= TARGET_1000_S) if 1000 in by_size else None},
        "scaling_5000_le_5_5x_1000": {"target": TARGET_SCALING,
                                      "measured": scaling["lint_5000_over_1000"] if scaling else None,
                                      "measured_cpu": scaling["lint_cpu_5000_over_1000"] if scaling else None,
                                      "met": (scaling["lint_5000_over_1000"] <= TARGET_SCALING) if scaling else None},
    }

    # ---------------------------------------------------------------- report
    has_cli = not args.no_cli
    head = (f"{'resources':>9} {'files':>5} {'rep':>3} {'lint s':>8} {'cpu s':>7} {'lint µs/res':>11} "
            f"{'floor s':>8} {'cpu s':>7} {'floor µs/res':>12} {'lint/floor':>10}")
    if has_cli:
        head += f" {'cli s':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        line = (f"{r['resources']:>9,} {r['files']:>5} {r['repeats']:>3} {r['lint_s']['median']:>8.3f} "
                f"{r['lint_cpu_s']['median']:>7.3f} {r['lint_us_per_resource']:>11.0f} {r['floor_s']['median']:>8.3f} "
                f"{r['floor_cpu_s']['median']:>7.3f} {r['floor_us_per_resource']:>12.0f} {r['lint_over_floor']:>9.1f}x")
        if has_cli:
            line += f" {r['cli_s']['median']:>7.2f}"
        print(line)
    if scaling:
        print(f"scaling t(5000)/t(1000): lint {scaling['lint_5000_over_1000']:.2f}x (cpu {scaling['lint_cpu_5000_over_1000']:.2f}x), "
              f"floor {scaling['floor_5000_over_1000']:.2f}x (cpu {scaling['floor_cpu_5000_over_1000']:.2f}x)")
    print(f"load average (1 min) before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if breakdown:
        print(f"\nstages at {breakdown['resources']:,} resources (median of {breakdown['repeats']}; "
              f"sum {breakdown['sum_of_medians_s']:.3f} s wall, {breakdown['sum_of_medians_cpu_s']:.3f} s cpu):")
        print(f"  {'stage':<22} {'wall ms':>9} {'cpu ms':>9} {'cpu %':>6}")
        for st in breakdown["stages"]:
            print(f"  {st['stage']:<22} {st['median_s'] * 1000:>9.1f} {st['median_cpu_s'] * 1000:>9.1f} "
                  f"{st['share_cpu'] * 100:>5.1f}%")
    print("\ntargets (reported, not asserted):")
    t1 = targets["lint_1000_le_1s"]
    if t1["met"] is not None:
        print(f"  1,000 resources <= {TARGET_1000_S:g} s: {t1['measured_s']:.3f} s (cpu {t1['measured_cpu_s']:.3f} s) -> "
              f"{'met' if t1['met'] else 'NOT met'}")
    t2 = targets["scaling_5000_le_5_5x_1000"]
    if t2["met"] is not None:
        print(f"  t(5000) <= {TARGET_SCALING:g} x t(1000): {t2['measured']:.2f}x (cpu {t2['measured_cpu']:.2f}x) -> "
              f"{'met' if t2['met'] else 'NOT met'}")
    else:
        print("  scaling: not measured (--quick)")
    if profile_text:
        print("\n" + profile_text)

    result = {
        **run_header("quick" if args.quick else "full", LINT_DISTS, load_before),
        "yaml_c_loader": hasattr(yaml, "CSafeLoader"),
        "method": {
            "timer": "time.perf_counter",
            "statistic": "median of repeats; gc.collect() before each repeat, gc enabled during it",
            "cpu": "*_cpu_s: time.process_time of the same repeats (less sensitive to other load on the machine)",
            "lint": "compiler.lint.lint_paths([specs, policies]) in-process (walk, read, load, validate, resolve, checks, sort)",
            "floor": "same walk and reads + yaml.load_all(CSafeLoader) + KINDS[kind].model_validate(doc)",
            "cli": "python -m compiler lint specs/ in a subprocess (start-up and imports included); reference only",
            "tree": f"1 System + 3 policies from policies/ + units of 8 (or 7) resources modelled on specs/, "
                    f"{UNITS_PER_FILE} units per file",
        },
        "sizes": rows,
        "scaling": scaling,
        "stages": breakdown,
        "targets": targets,
    }
    write_results(args.output, result)
    print(f"\nwrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
