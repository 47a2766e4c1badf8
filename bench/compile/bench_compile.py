#!/usr/bin/env python
"""Benchmark: how long ``specops compile`` takes as the system grows, next to a floor.

Workload
--------
Systems of 10, 100 and 1,000 models are generated in a temporary directory
with the spec generator of ``bench/lint/bench_lint.py`` (imported, so both
benchmarks use the same unit).  Each tree is one ``System`` (the example's
staging, prod and edge environments), the three risk policies copied from
``policies/``, and one unit per model, modelled on the example in ``specs/``:

* DataSources ``sensor-events-NNNNN`` (file), ``sensor-stream-NNNNN`` (stream,
  so every model also gets an ingester) and ``failure-labels-NNNNN`` (labels);
* FeatureSet ``asset-health-NNNNN``; Model ``pump-failure-NNNNN`` (risk tier
  cycles high, medium, critical, low; high/critical models are also served on
  the edge); ServiceLevel ``pump-failure-NNNNN``;
* ModelReleases ``...-1-3-0`` (champion in prod, and on the edge for
  high/critical models) and ``...-1-4-0`` (champion in staging, 10 % canary in
  prod).

Every unit has both releases (8 resources per model).  Every tree must compile
without errors, with one training pipeline per model; this is asserted once
per size before anything is timed (that run is also the warm-up).

What is measured (in-process, one Python interpreter)
----------------------------------------------------
* ``compile`` -- what ``specops compile`` does before it writes:
  ``compiler.load.read_sources`` of ``specs/`` and ``policies/`` then
  ``compiler.compile.compile_sources`` (lint, plan, emit, output checks);
* ``write``   -- ``compiler.write.write`` of those artifacts into a fresh,
  empty temporary directory (every file created; the directory is removed
  outside the timing); ``compile+write`` is the sum of the two in the same
  repeat;
* ``floor``   -- the least a compiler of these specs must do, in the same run:
  the same file reads, ``yaml.load_all(..., Loader=yaml.CSafeLoader)`` and
  ``compiler.spec.KINDS[kind].model_validate(doc)`` of every document, plus per
  model one hera ``WorkflowTemplate`` with a DAG of 7 ``Container`` tasks
  shaped like ours (resources, mounts, security context, retry, artifact
  passing), ``.to_dict()`` and ``yaml.dump(..., Dumper=yaml.CSafeDumper,
  sort_keys=True)``.  hera's own ``to_yaml`` is not used: it dumps with the
  pure-Python dumper, about 3x slower than the C one.  The floor's parts are
  recorded separately (parse+validate, hera build, to_dict, dump);
* a stage breakdown at 100 models: read, ``lint_sources``, ``build_plan``,
  each backend of ``compiler.emit.backends()`` called one by one (building
  and serializing its artifacts), the manifest index, ``output_checks`` and
  the write, as ``compile_sources`` / ``compiler.emit.emit`` run them.

Every timing is the median of N repeats (``time.perf_counter``; planned 5, 5
and 3 repeats for 10, 100 and 1,000 models; ``--quick``: 10 and 100 models,
3 repeats).  The process CPU time (``time.process_time``) of the same repeats
is recorded too.  ``gc.collect()`` runs before each repeat and the previous
repeat's results are dropped first, so each repeat starts from a heap like a
fresh CLI process; the collector stays enabled, as in the CLI (``lint``
pauses it internally; nothing else is changed).

Time budget: ``--budget`` seconds (default 300) caps the repeats so the run
stays near that length: before each size, the remaining budget is split
evenly over the remaining sizes and the repeats are cut to what fits, given
the duration of the size's untimed correctness run, never below 1.  Planned
and actual repeats are both recorded.  ``--budget 0`` runs every planned
repeat.

Targets from the issue are reported, never asserted: compile <= 2 x floor at
every size, and linear growth (t(1000)/t(100) <= 11, i.e. 10x models within
10 %).

Results are printed as a table and written to ``bench/results/compile.json``
(with machine information and a timestamp).  ``--profile`` additionally runs
cProfile over one compile at 100 models and prints the hot spots and the
cumulative time of the compiler's main functions.

Usage (from the repository root)::

    python bench/compile/bench_compile.py [--quick] [--profile] [--budget SECONDS]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import importlib.metadata
import importlib.util
import io
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import yaml
from hera.workflows import Artifact as HeraArtifact
from hera.workflows import DAG, Container, RetryStrategy, WorkflowTemplate
from hera.workflows import models as hm

from compiler.compile import compile_sources, output_checks
from compiler.diagnostics import Severity
from compiler.emit import backends
from compiler.emit.backends import index as emit_index
from compiler.lint import lint_sources
from compiler.load import read_sources
from compiler.plan import build_plan
from compiler.spec import KINDS
from compiler.write import write

REPO = Path(__file__).resolve().parents[2]
RESULTS_PATH = REPO / "bench" / "results" / "compile.json"
LINT_BENCH = REPO / "bench" / "lint" / "bench_lint.py"

SIZES_FULL = ((10, 5), (100, 5), (1000, 3))
SIZES_QUICK = ((10, 3), (100, 3))
BREAKDOWN_SIZE = 100
PROFILE_SIZE = 100
DEFAULT_BUDGET_S = 300.0
TARGET_RATIO = 2.0
TARGET_SCALING = 11.0  # t(1000)/t(100): 10x the models, within 10 % of linear
RESOURCES_PER_MODEL = 8


def _lint_bench():
    """bench/lint/bench_lint.py as a module: its spec generator is reused, not copied."""
    spec = importlib.util.spec_from_file_location("bench_lint", LINT_BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bl = _lint_bench()

# --------------------------------------------------------------------------
# Spec tree generation
# --------------------------------------------------------------------------


def generate_tree(root: Path, models: int) -> dict[str, Any]:
    """A System, the risk policies and ``models`` units (each with both releases), two units per file."""
    specs = root / "specs"
    specs.mkdir(parents=True)
    (specs / "system.yaml").write_text(bl.SYSTEM, encoding="utf-8")
    policies = root / "policies"
    policies.mkdir()
    for p in sorted(bl.POLICIES_DIR.glob("*.yaml")):
        shutil.copy(p, policies / p.name)
    files = 1 + len(list(policies.glob("*.yaml")))
    docs = files
    size = sum(p.stat().st_size for p in (specs / "system.yaml", *policies.glob("*.yaml")))
    for start in range(0, models, bl.UNITS_PER_FILE):
        group: dict[str, list[str]] = {}
        for i in range(start, min(start + bl.UNITS_PER_FILE, models)):
            for folder, items in bl._unit_docs(i, with_challenger=True).items():
                group.setdefault(folder, []).extend(items)
        for folder, items in group.items():
            path = specs / folder / f"fleet-{start:05d}.yaml"
            path.parent.mkdir(exist_ok=True)
            text = bl.HEADER + "---\n".join(items)
            path.write_text(text, encoding="utf-8")
            files += 1
            docs += len(items)
            size += len(text.encode())
    assert docs == 4 + RESOURCES_PER_MODEL * models, (docs, models)
    return {"models": models, "resources": docs, "files": files, "bytes": size}


def inputs(root: Path) -> list[Path]:
    return [root / "specs", root / "policies"]


# --------------------------------------------------------------------------
# What is timed
# --------------------------------------------------------------------------


def run_compile(root: Path):
    files, problems = read_sources(inputs(root), base=str(root))
    return compile_sources(files, problems)


def run_write(result, out: Path) -> None:
    write(result.artifacts, out, result.plan.generated_dir)


FLOOR_IMAGE = "ghcr.io/acme/specops-runtime:0.1.0@sha256:" + "4f6c1c9be0cbb0f1c3c8e6b5a8e3c0d9f7b2a1e4d5c6b7a8f9e0d1c2b3a4f5e6"
# The 7 training steps and the steps whose outputs each one takes (as our pipelines pass artifacts).
FLOOR_STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("validate-data", ()),
    ("build-features", ("validate-data",)),
    ("train", ("build-features",)),
    ("evaluate", ("build-features", "train")),
    ("export-onnx", ("build-features", "train", "evaluate")),
    ("register", ("train", "export-onnx", "evaluate")),
    ("propose-release", ("register",)),
)


def floor_template(i: int) -> WorkflowTemplate:
    """A training WorkflowTemplate shaped like ours, built with hera, independent of the compiler."""
    model = f"pump-failure-{i:05d}"
    work = f"/workspace/.specops/work/{model}"
    with WorkflowTemplate(
        name=f"{model}-training",
        namespace="pm-staging",
        entrypoint="pipeline",
        labels={"app.kubernetes.io/part-of": "predictive-maintenance", "specops.dev/model": model,
                "specops.dev/environment": "staging"},
        annotations={"specops.dev/source": f"Model/{model}", "specops.dev/spec-hash": "0" * 64,
                     "argocd.argoproj.io/sync-wave": "10"},
        service_account_name="specops-runner",
        active_deadline_seconds=4 * 3600,
        pod_gc=hm.PodGC(strategy="OnPodSuccess"),
        ttl_strategy=hm.TTLStrategy(seconds_after_completion=7 * 86_400),
        security_context=hm.PodSecurityContext(run_as_non_root=True, run_as_user=10001, run_as_group=10001,
                                               fs_group=10001, seccomp_profile=hm.SeccompProfile(type="RuntimeDefault")),
        volumes=[hm.Volume(name="config", config_map=hm.ConfigMapVolumeSource(name=f"{model}-pipeline-config")),
                 hm.Volume(name="scratch", empty_dir=hm.EmptyDirVolumeSource()),
                 hm.Volume(name="tmp", empty_dir=hm.EmptyDirVolumeSource())],
    ) as template:
        containers = {}
        for step, takes in FLOOR_STEPS:
            containers[step] = Container(
                name=step,
                image=FLOOR_IMAGE,
                command=["python", "-m", "runtime"],
                args=[step, "--config", f"generated/runtime/{model}/{step}.json"],
                working_dir="/workspace",
                env=[hm.EnvVar(name="SPECOPS_ARTIFACTS_CREDENTIALS", value_from=hm.EnvVarSource(
                    secret_key_ref=hm.SecretKeySelector(name="artifact-store", key="credentials")))],
                resources=hm.ResourceRequirements(requests={"cpu": "500m", "memory": "1Gi"},
                                                  limits={"cpu": "1", "memory": "2Gi"}),
                volume_mounts=[hm.VolumeMount(name="config", mount_path=f"/workspace/generated/runtime/{model}", read_only=True),
                               hm.VolumeMount(name="scratch", mount_path="/scratch"),
                               hm.VolumeMount(name="tmp", mount_path="/tmp")],
                security_context=hm.SecurityContext(run_as_non_root=True, run_as_user=10001, read_only_root_filesystem=True,
                                                    allow_privilege_escalation=False,
                                                    capabilities=hm.Capabilities(drop=["ALL"]),
                                                    seccomp_profile=hm.SeccompProfile(type="RuntimeDefault")),
                retry_strategy=RetryStrategy(limit=2, retry_policy="OnError",
                                             backoff=hm.Backoff(duration="30s", factor=2, max_duration="10m")),
                active_deadline_seconds=3600,
                inputs=[HeraArtifact(name=f"{t}-out", path=f"{work}/{t}") for t in takes] or None,
                outputs=[HeraArtifact(name=f"{step}-out", path=f"{work}/{step}")],
            )
        with DAG(name="pipeline"):
            tasks = {}
            for step, takes in FLOOR_STEPS:
                arguments = [hm.Artifact(name=f"{t}-out", from_=f"{{{{tasks.{t}.outputs.artifacts.{t}-out}}}}") for t in takes]
                tasks[step] = containers[step](name=step, **({"arguments": arguments} if arguments else {}))
                for t in takes:
                    tasks[t] >> tasks[step]
    return template


def run_floor(root: Path, models: int) -> dict[str, float]:
    """The floor, part by part (wall seconds); returns the parts and the document count."""
    t0 = time.perf_counter()
    count = 0
    for top in inputs(root):
        for path in sorted(top.rglob("*")):
            if path.suffix not in (".yaml", ".yml") or not path.is_file():
                continue
            text = path.read_bytes().decode("utf-8-sig")
            for doc in yaml.load_all(text, Loader=yaml.CSafeLoader):
                if doc is None:
                    continue
                KINDS[doc["kind"]].model_validate(doc)
                count += 1
    t1 = time.perf_counter()
    templates = [floor_template(i) for i in range(models)]
    t2 = time.perf_counter()
    dicts = [t.to_dict() for t in templates]
    t3 = time.perf_counter()
    texts = [yaml.dump(d, Dumper=yaml.CSafeDumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=4096)
             for d in dicts]
    t4 = time.perf_counter()
    assert len(texts) == models
    return {"documents": count, "parse_validate": t1 - t0, "hera_build": t2 - t1, "hera_to_dict": t3 - t2,
            "yaml_dump_c": t4 - t3, "total": t4 - t0}


def stage_times(root: Path, out: Path) -> list[tuple[str, float, float]]:
    """One compile + write, stage by stage, as compile_sources / emit run them: (stage, wall s, cpu s)."""
    stages: list[tuple[str, float, float]] = []
    clock = [time.perf_counter(), time.process_time()]

    def lap(name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        stages.append((name, wall - clock[0], cpu - clock[1]))
        clock[:] = [time.perf_counter(), time.process_time()]

    files, problems = read_sources(inputs(root), base=str(root))
    lap("read")
    lint = lint_sources(files, problems)
    lap("lint")
    assert lint.ok
    plan = build_plan(lint.spec)
    lap("plan")
    chosen = backends()
    produced: dict[str, Any] = {}
    for name in sorted(chosen):  # as compiler.emit.emit does
        for a in chosen[name](plan):
            assert a.path not in produced, a.path
            produced[a.path] = dataclasses.replace(a, backend=name)  # every other field kept, as emit() does
        lap(f"emit:{name}")
    ordered = tuple(produced[p] for p in sorted(produced))
    artifacts = (*ordered, emit_index.manifest(plan, ordered))
    lap("emit:index (manifest)")
    problems_out = output_checks(plan, artifacts)
    lap("output checks")
    assert not problems_out
    write(artifacts, out, plan.generated_dir)
    lap("write")
    return stages


summary = bl.summary


# --------------------------------------------------------------------------
# Checks, profile, machine
# --------------------------------------------------------------------------


def check_compiles(root: Path, models: int) -> dict[str, Any]:
    """Assert the tree compiles without errors (once per size, before timing); also the warm-up."""
    t0 = time.perf_counter()
    result = run_compile(root)
    elapsed = time.perf_counter() - t0
    errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
    if not result.ok or errors or result.plan is None or len(result.plan.pipelines) != models:
        print(f"generated system of {models} models does not compile: {len(errors)} error(s), "
              f"{len(result.plan.pipelines) if result.plan else 0} pipelines", file=sys.stderr)
        for d in result.diagnostics[:10]:
            print(f"  {d.location}: {d.severity.value}[{d.code}]: {d.message}", file=sys.stderr)
        raise SystemExit(1)
    info = {"artifacts": len(result.artifacts), "artifact_bytes": sum(len(a.content) for a in result.artifacts),
            "warnings": sum(1 for d in result.diagnostics if d.severity is Severity.WARNING),
            "pipelines": len(result.plan.pipelines), "servings": len(result.plan.servings),
            "check_run_s": elapsed}
    del result
    t0 = time.perf_counter()
    floor = run_floor(root, models)
    info["floor_check_run_s"] = time.perf_counter() - t0
    assert floor["documents"] == 4 + RESOURCES_PER_MODEL * models, floor
    return info


KEY_FUNCTIONS = (
    ("compiler/compile.py", "output_checks"),
    ("yaml/__init__.py", "safe_load"),
    ("compiler/emit/argo_lint.py", "check_workflows"),
    ("compiler/emit/__init__.py", "emit"),
    ("compiler/emit/serialize.py", "to_yaml"),
    ("compiler/emit/serialize.py", "to_json"),
    ("compiler/emit/serialize.py", "plain"),
    ("yaml/__init__.py", "dump"),
    ("hera/workflows/workflow.py", "to_dict"),
    ("compiler/emit/backends/argo_workflows.py", "build_training"),
    ("compiler/emit/backends/kubernetes.py", "build_config_maps"),
    ("compiler/plan/build.py", "build_plan"),
    ("compiler/plan/build.py", "policy_bundle"),
    ("compiler/policy/select.py", "selects"),
    ("compiler/lint.py", "lint_sources"),
)


def profile_compile(root: Path, top: int = 25) -> tuple[str, list[dict[str, Any]]]:
    gc.collect()
    prof = cProfile.Profile()
    prof.enable()
    run_compile(root)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    total = stats.total_tt  # type: ignore[attr-defined]
    key: list[dict[str, Any]] = []
    for (file, line, func), (cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for suffix, name in KEY_FUNCTIONS:
            if func == name and file.replace(os.sep, "/").endswith(suffix):
                key.append({"function": f"{suffix}:{name}", "calls": nc, "cumulative_s": ct, "share": ct / total})
    key.sort(key=lambda k: -k["cumulative_s"])
    buf.write(f"\nkey functions (cumulative, under cProfile; total {total:.2f} s):\n")
    for k in key:
        buf.write(f"  {k['function']:<58} {k['calls']:>8} calls {k['cumulative_s']:>8.2f} s {k['share'] * 100:>5.1f}%\n")
    return buf.getvalue(), key


COMPILE_DISTS = ("hera", "pydantic", "pydantic-core", "PyYAML", "kubernetes", "kserve")


def _drop(tmp_dirs: list[Path]) -> None:
    for d in tmp_dirs:
        shutil.rmtree(d, ignore_errors=True)
    tmp_dirs.clear()


def measure(root: Path, models: int, repeats: int, scratch: Path) -> dict[str, Any]:
    """``repeats`` x (compile, write, floor), each repeat from a collected heap."""
    comp, comp_cpu, wr, wr_cpu, both, both_cpu = [], [], [], [], [], []
    floor, floor_cpu = [], []
    parts: dict[str, list[float]] = {}
    outs: list[Path] = []
    for _ in range(repeats):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        result = run_compile(root)
        c1, t1 = time.process_time(), time.perf_counter()
        out = Path(tempfile.mkdtemp(dir=scratch, prefix="out-"))
        outs.append(out)
        run_write(result, out)
        c2, t2 = time.process_time(), time.perf_counter()
        comp.append(t1 - t0), comp_cpu.append(c1 - c0)
        wr.append(t2 - t1), wr_cpu.append(c2 - c1)
        both.append(t2 - t0), both_cpu.append(c2 - c0)
        del result
        _drop(outs)
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        f = run_floor(root, models)
        floor.append(time.perf_counter() - t0), floor_cpu.append(time.process_time() - c0)
        for k, v in f.items():
            if k != "documents":
                parts.setdefault(k, []).append(v)
    return {"compile_s": summary(comp), "compile_cpu_s": summary(comp_cpu), "write_s": summary(wr),
            "write_cpu_s": summary(wr_cpu), "compile_write_s": summary(both), "compile_write_cpu_s": summary(both_cpu),
            "floor_s": summary(floor), "floor_cpu_s": summary(floor_cpu),
            "floor_parts_median_s": {k: statistics.median(v) for k, v in parts.items()}}


def breakdown_at(root: Path, repeats: int, scratch: Path) -> dict[str, Any]:
    runs = []
    for _ in range(repeats):
        gc.collect()
        out = Path(tempfile.mkdtemp(dir=scratch, prefix="stages-"))
        runs.append(stage_times(root, out))
        _drop([out])
    names = [r[0] for r in runs[0]]
    med = {n: statistics.median(r[k][1] for r in runs) for k, n in enumerate(names)}
    med_cpu = {n: statistics.median(r[k][2] for r in runs) for k, n in enumerate(names)}
    total, total_cpu = sum(med.values()), sum(med_cpu.values())
    return {"repeats": repeats, "sum_of_medians_s": total, "sum_of_medians_cpu_s": total_cpu,
            "stages": [{"stage": n, "median_s": med[n], "median_cpu_s": med_cpu[n], "share": med[n] / total}
                       for n in names]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 and 100 models only, 3 repeats")
    ap.add_argument("--profile", action="store_true", help=f"cProfile one compile of {PROFILE_SIZE} models and print hot spots")
    ap.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S,
                    help="seconds the timed repeats may take in all (repeats are cut to fit, never below 1); 0: no cap")
    ap.add_argument("--output", type=Path, default=RESULTS_PATH, help="where to write the JSON results")
    args = ap.parse_args(argv)
    sizes = SIZES_QUICK if args.quick else SIZES_FULL

    started = time.perf_counter()
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    breakdown: dict[str, Any] | None = None
    profile_text, profile_key = None, None
    with tempfile.TemporaryDirectory(prefix="specops-bench-compile-") as tmp:
        scratch = Path(tmp)
        for index, (models, planned) in enumerate(sizes):
            root = scratch / f"system-{models}"
            shape = generate_tree(root, models)
            info = check_compiles(root, models)
            repeats = planned
            per_repeat = info["check_run_s"] + info["floor_check_run_s"]
            if models == BREAKDOWN_SIZE:
                per_repeat += info["check_run_s"]  # the breakdown runs one more compile per repeat
            if args.budget > 0:
                share = (args.budget - (time.perf_counter() - started)) / (len(sizes) - index)
                repeats = max(1, min(planned, int(share // per_repeat)))
            print(f"  {models:>5} models: check run {info['check_run_s']:.2f} s; {repeats} repeat(s) "
                  f"(planned {planned})", file=sys.stderr, flush=True)
            row = {**shape, **info, "repeats_planned": planned, "repeats": repeats,
                   **measure(root, models, repeats, scratch)}
            row["compile_ms_per_model"] = row["compile_s"]["median"] / models * 1e3
            row["compile_write_ms_per_model"] = row["compile_write_s"]["median"] / models * 1e3
            row["floor_ms_per_model"] = row["floor_s"]["median"] / models * 1e3
            row["compile_over_floor"] = row["compile_s"]["median"] / row["floor_s"]["median"]
            row["compile_write_over_floor"] = row["compile_write_s"]["median"] / row["floor_s"]["median"]
            rows.append(row)
            if models == BREAKDOWN_SIZE:
                breakdown = {"models": models, **breakdown_at(root, repeats, scratch)}
            if args.profile and models == PROFILE_SIZE:
                profile_text, profile_key = profile_compile(root)
            print(f"  {models:>5} models: compile {row['compile_s']['median']:.3f} s, "
                  f"floor {row['floor_s']['median']:.3f} s", file=sys.stderr, flush=True)
            shutil.rmtree(root, ignore_errors=True)

    by = {r["models"]: r for r in rows}
    scaling = None
    if 100 in by and 1000 in by:
        scaling = {k: by[1000][f"{k}_s"]["median"] / by[100][f"{k}_s"]["median"]
                   for k in ("compile", "compile_write", "floor")}
        scaling.update({f"{k}_cpu": by[1000][f"{k}_cpu_s"]["median"] / by[100][f"{k}_cpu_s"]["median"]
                        for k in ("compile", "floor")})
    targets = {
        "compile_le_2x_floor": {"target": TARGET_RATIO,
                                "measured": {str(r["models"]): r["compile_over_floor"] for r in rows},
                                "met": all(r["compile_over_floor"] <= TARGET_RATIO for r in rows)},
        "linear_1000_over_100": {"target": TARGET_SCALING,
                                 "measured": scaling["compile"] if scaling else None,
                                 "floor": scaling["floor"] if scaling else None,
                                 "met": (scaling["compile"] <= TARGET_SCALING) if scaling else None},
    }
    run_s = time.perf_counter() - started

    # ---------------------------------------------------------------- report
    head = (f"{'models':>6} {'res':>5} {'files':>6} {'rep':>5} {'compile s':>10} {'ms/model':>9} {'+write s':>9} "
            f"{'ms/model':>9} {'floor s':>8} {'ms/model':>9} {'c/floor':>8} {'c+w/fl':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['models']:>6,} {r['resources']:>5} {r['artifacts']:>6} {r['repeats']:>2}/{r['repeats_planned']:<2} "
              f"{r['compile_s']['median']:>10.3f} {r['compile_ms_per_model']:>9.1f} {r['compile_write_s']['median']:>9.3f} "
              f"{r['compile_write_ms_per_model']:>9.1f} {r['floor_s']['median']:>8.3f} {r['floor_ms_per_model']:>9.1f} "
              f"{r['compile_over_floor']:>7.1f}x {r['compile_write_over_floor']:>6.1f}x")
    print("(files = artifacts written; rep = repeats done/planned; cpu-time medians are in the JSON)")
    print("floor parts (median s): " + "; ".join(
        f"{r['models']}: " + ", ".join(f"{k} {v:.3f}" for k, v in r["floor_parts_median_s"].items() if k != "total")
        for r in rows))
    if scaling:
        print(f"scaling t(1000)/t(100): compile {scaling['compile']:.2f}x (cpu {scaling['compile_cpu']:.2f}x), "
              f"compile+write {scaling['compile_write']:.2f}x, floor {scaling['floor']:.2f}x (cpu {scaling['floor_cpu']:.2f}x)")
    print(f"load average (1 min) before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
          f"run {run_s:.0f} s")
    if breakdown:
        print(f"\nstages at {breakdown['models']:,} models (median of {breakdown['repeats']}; "
              f"sum {breakdown['sum_of_medians_s']:.3f} s wall, {breakdown['sum_of_medians_cpu_s']:.3f} s cpu):")
        print(f"  {'stage':<26} {'wall ms':>9} {'cpu ms':>9} {'share':>6}")
        for st in breakdown["stages"]:
            print(f"  {st['stage']:<26} {st['median_s'] * 1000:>9.1f} {st['median_cpu_s'] * 1000:>9.1f} "
                  f"{st['share'] * 100:>5.1f}%")
    print("\ntargets (reported, not asserted):")
    t1 = targets["compile_le_2x_floor"]
    print(f"  compile <= {TARGET_RATIO:g} x floor: " + ", ".join(f"{k} models {v:.1f}x" for k, v in t1["measured"].items())
          + f" -> {'met' if t1['met'] else 'NOT met'}")
    t2 = targets["linear_1000_over_100"]
    if t2["met"] is not None:
        print(f"  linear growth, t(1000) <= {TARGET_SCALING:g} x t(100): {t2['measured']:.2f}x (floor {t2['floor']:.2f}x) -> "
              f"{'met' if t2['met'] else 'NOT met'}")
    else:
        print("  linear growth: not measured (--quick)")
    if profile_text:
        print("\n" + profile_text)

    result = {
        **bl.run_header("quick" if args.quick else "full", COMPILE_DISTS, load_before),
        "yaml_c_loader_dumper": hasattr(yaml, "CSafeLoader") and hasattr(yaml, "CSafeDumper"),
        "run_s": run_s,
        "budget_s": args.budget,
        "method": {
            "timer": "time.perf_counter; *_cpu_s: time.process_time of the same repeats",
            "statistic": "median of repeats; previous results dropped and gc.collect() before each repeat, "
                         "gc enabled during it (lint pauses it internally, as in the CLI)",
            "compile": "read_sources(specs, policies) + compiler.compile.compile_sources (lint, plan, emit, output checks)",
            "write": "compiler.write.write into a fresh empty directory (all files created)",
            "floor": "same reads + yaml.load_all(CSafeLoader) + KINDS[kind].model_validate(doc) for every document "
                     "+ per model a hera WorkflowTemplate (DAG of 7 Container tasks), .to_dict(), "
                     "yaml.dump(Dumper=CSafeDumper, sort_keys=True)",
            "tree": "1 System + 3 policies from policies/ + per model 8 resources modelled on specs/ "
                    "(generator of bench/lint/bench_lint.py, every unit with both releases)",
            "budget": "before each size the remaining budget is split evenly over the remaining sizes; "
                      "repeats = min(planned, max(1, share // duration of the untimed check run))",
        },
        "sizes": rows,
        "scaling_1000_over_100": scaling,
        "stages": breakdown,
        "targets": targets,
        "profile_key_functions": profile_key,
    }
    bl.write_results(args.output, result)
    print(f"\nwrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
