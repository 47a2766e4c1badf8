#!/usr/bin/env python
"""Benchmark: choose SpecOps' CEL implementation by measurement.

Candidates
----------
* ``cel``   -- PyPI ``common-expression-language`` (Rust ``cel`` crate via PyO3)::

      prog = cel.compile(src); prog.execute(dict | cel.Context)

* ``celpy`` -- PyPI ``cel-python`` (pure Python, Lark parser)::

      env = celpy.Environment(); prog = env.program(env.compile(src))
      prog.evaluate({name: celpy.json_to_cel(value), ...})

What is measured (programs are compiled ONCE and evaluated many times, as on
the serving path where rules are evaluated per request):

(a) compile time per expression (celpy: ``env.compile`` + ``env.program``);
(b) per-evaluation time against a prediction-style context;
(c) per-evaluation time against a spec-style (Kubernetes-like) nested context.

Evaluation is timed in two ways, because the Python -> CEL value conversion
is a large part of the cost for both libraries:

* ``e2e``  -- a raw Python dict goes in on every call (``prog.execute(dict)``
  vs ``prog.evaluate(json_to_cel(...))``); this is what a naive serving path
  does;
* ``pre``  -- the context is converted once beforehand (``cel.Context`` vs a
  pre-converted celpy activation); this isolates the interpreter itself.

A per-request scenario (convert the context once, run every rule of the group)
is also timed.  celpy is measured with its default ``InterpretedRunner`` and
with the ``CompiledRunner`` (transpiles to Python).

Every timing is the median over several rounds of ``time.perf_counter_ns``
(gc disabled during a round).  Results are printed as a table and written to
``bench/results/cel.json``.  Both libraries must agree on every benchmark
case (mismatches are reported and make the exit status non-zero); semantic
differences found by a set of probe expressions are recorded as well.
Nothing asserts on timings.

Usage (from the repository root)::

    python bench/cel/bench_cel.py [--quick]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import gc
import importlib.metadata
import json
import logging
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import cel
import celpy
from celpy import celtypes

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from runtime.contracts.cel_lowering import lower_rules  # noqa: E402

# celpy logs every evaluation error of the CompiledRunner at ERROR level.
logging.getLogger("celpy").setLevel(logging.CRITICAL)

RESULTS_PATH = Path(__file__).resolve().parents[1] / "results" / "cel.json"

# --------------------------------------------------------------------------
# Workload: expressions and contexts
# --------------------------------------------------------------------------

EXPRESSIONS: list[dict[str, str]] = [
    # prediction-style rules (evaluated per scored request)
    {
        "name": "pred_threshold",
        "group": "prediction",
        "src": "score >= threshold && asset.criticality == 'critical'",
    },
    {
        "name": "pred_confidence",
        "group": "prediction",
        "src": "confidence < 0.6 || featureFreshnessSeconds > 900.0",
    },
    # spec-style rules (evaluated against a Kubernetes-like object)
    {
        "name": "spec_digest_pinned",
        "group": "spec",
        "src": "object.spec.predictor.containers.all(c, c.image.contains('@sha256:'))",
    },
    {
        "name": "spec_release_annotation",
        "group": "spec",
        "src": "has(object.metadata.annotations) && "
        "'specops.dev/release' in object.metadata.annotations",
    },
    {
        "name": "spec_gate_pr_auc",
        "group": "spec",
        "src": "model.spec.gates.exists(g, g.metric == 'pr_auc')",
    },
    {
        "name": "spec_canary_cap",
        "group": "spec",
        "src": "object.spec.predictor.canaryTrafficPercent <= 25",
    },
    {
        "name": "spec_combined",
        "group": "spec",
        "src": "size(object.spec.predictor.containers) > 0 && "
        "object.metadata.name.startsWith('fraud-') && "
        "object.spec.predictor.containers.all(c, has(c.resources) && "
        "has(c.resources.limits) && size(c.env) <= 20)",
    },
]


# The prediction group's variable types, for the lowering (the spec group reads lists and macros: outside it).
LOWERED_TYPES = {"score": "double", "threshold": "double", "confidence": "double", "featureFreshnessSeconds": "double",
                 "asset": {"id": "string", "criticality": "string", "owner": "string"}}


def prediction_contexts() -> dict[str, dict[str, Any]]:
    base = {
        "score": 0.91,
        "threshold": 0.8,
        "confidence": 0.55,
        "featureFreshnessSeconds": 120.0,
        "asset": {
            "id": "acct-0042-7781",
            "criticality": "critical",
            "owner": "payments",
            "tags": ["pci", "eu-west-1"],
        },
        "model": {"name": "fraud-detector", "version": "1.4.2"},
        "requestId": "6f1c2a7e-3d9b-4c55-9d0e-8a1f0b7c2e11",
    }
    below = copy.deepcopy(base)
    below.update(score=0.42, confidence=0.93)
    stale = copy.deepcopy(base)
    stale.update(confidence=0.95, featureFreshnessSeconds=1800.0)
    low_crit = copy.deepcopy(base)
    low_crit["asset"]["criticality"] = "low"
    return {"base": base, "below": below, "stale": stale, "low_crit": low_crit}


def _container(name: str, image: str, n_env: int = 6) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "args": ["--model_name=fraud-detector", "--http_port=8080"],
        "env": [{"name": f"ENV_{i}", "value": f"value-{i}"} for i in range(n_env)],
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {
            "limits": {"cpu": "2", "memory": "4Gi"},
            "requests": {"cpu": "500m", "memory": "1Gi"},
        },
    }


def spec_contexts() -> dict[str, dict[str, Any]]:
    digest = "@sha256:" + "ab12" * 16
    base = {
        "object": {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {
                "name": "fraud-detector",
                "namespace": "ml-prod",
                "labels": {
                    "app.kubernetes.io/name": "fraud-detector",
                    "app.kubernetes.io/part-of": "specops",
                    "specops.dev/tier": "critical",
                    "team": "risk",
                },
                "annotations": {
                    "specops.dev/release": "2024-06-01.3",
                    "specops.dev/spec-hash": "9c1e0f",
                    "serving.kserve.io/deploymentMode": "Serverless",
                    "autoscaling.knative.dev/target": "10",
                },
                "generation": 7,
            },
            "spec": {
                "predictor": {
                    "minReplicas": 2,
                    "maxReplicas": 10,
                    "canaryTrafficPercent": 10,
                    "serviceAccountName": "fraud-detector-sa",
                    "containers": [
                        _container("kserve-container", "ghcr.io/acme/fraud-detector" + digest),
                        _container("feature-proxy", "ghcr.io/acme/feature-proxy" + digest, 3),
                    ],
                },
            },
            "status": {
                "conditions": [
                    {"type": t, "status": "True", "lastTransitionTime": "2024-06-01T10:00:00Z"}
                    for t in ("IngressReady", "PredictorReady", "Ready", "RoutesReady")
                ],
                "url": "https://fraud-detector.ml-prod.example.com",
            },
        },
        "model": {
            "metadata": {"name": "fraud-detector", "version": "1.4.2"},
            "spec": {
                "gates": [
                    {"metric": "roc_auc", "op": ">=", "threshold": 0.9},
                    {"metric": "latency_p99_ms", "op": "<=", "threshold": 50.0},
                    {"metric": "calibration_ece", "op": "<=", "threshold": 0.05},
                    {"metric": "pr_auc", "op": ">=", "threshold": 0.7},
                ],
            },
        },
    }
    violating = copy.deepcopy(base)
    obj = violating["object"]
    del obj["metadata"]["annotations"]
    obj["metadata"]["name"] = "churn-model"
    obj["spec"]["predictor"]["canaryTrafficPercent"] = 50
    obj["spec"]["predictor"]["containers"][1]["image"] = "ghcr.io/acme/feature-proxy:latest"
    del obj["spec"]["predictor"]["containers"][0]["resources"]["limits"]
    violating["model"]["spec"]["gates"] = violating["model"]["spec"]["gates"][:3]
    no_release = copy.deepcopy(base)
    del no_release["object"]["metadata"]["annotations"]["specops.dev/release"]
    del no_release["object"]["spec"]["predictor"]["containers"][1]["resources"]
    return {"base": base, "violating": violating, "no_release": no_release}


CONTEXTS = {"prediction": prediction_contexts(), "spec": spec_contexts()}

# --------------------------------------------------------------------------
# Library adapters
# --------------------------------------------------------------------------


def celpy_activation(ctx: dict[str, Any]) -> dict[str, Any]:
    """Convert a plain Python context into a celpy activation."""
    return {name: celpy.json_to_cel(value) for name, value in ctx.items()}


def make_celpy_env(runner_class: type | None = None) -> tuple[celpy.Environment, int]:
    """Create a celpy Environment; returns (env, creation_ns).

    celpy's ``CELParser`` is a process-wide singleton that is built with the
    tree class of the *first* runner used; the CompiledRunner needs a
    different tree class, so the singleton is reset here.  Environments built
    earlier keep evaluating fine, but their ``compile`` now uses the new parser.
    """
    celpy.CELParser.CEL_PARSER = None
    t0 = time.perf_counter_ns()
    env = celpy.Environment(runner_class=runner_class)
    return env, time.perf_counter_ns() - t0


def normalize(value: Any) -> Any:
    """Map celpy (celtypes) and cel (native) results onto comparable Python values."""
    if isinstance(value, bool | celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.UintType):
        return ("uint", int(value))
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, dict):
        return {normalize(k): normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return repr(value)


def outcome(fn: Callable[[], Any]) -> dict[str, Any]:
    try:
        value = fn()
    except Exception as exc:  # noqa: BLE001 - we record whatever is raised
        return {
            "ok": False,
            "exc": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "msg": str(exc).replace("\n", " ")[:160],
        }
    return {"ok": True, "value": normalize(value), "type": type(value).__name__}


def run_cel(src: str, ctx: dict[str, Any] | None) -> dict[str, Any]:
    try:
        prog = cel.compile(src)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "phase": "compile", "exc": f"{type(exc).__module__}.{type(exc).__qualname__}",
                "msg": str(exc).replace("\n", " ")[:160]}
    res = outcome(lambda: prog.execute(ctx or {}))
    res["phase"] = "eval"
    return res


def run_celpy(env: celpy.Environment, src: str, ctx: dict[str, Any] | None) -> dict[str, Any]:
    try:
        prog = env.program(env.compile(src))
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "phase": "compile", "exc": f"{type(exc).__module__}.{type(exc).__qualname__}",
                "msg": str(exc).replace("\n", " ")[:160]}
    res = outcome(lambda: prog.evaluate(celpy_activation(ctx or {})))
    res["phase"] = "eval"
    return res


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------


def measure(fn: Callable[[], Any], round_ns: int, rounds: int) -> dict[str, Any]:
    """Median per-call time (ns) of ``fn`` over ``rounds`` rounds of ~round_ns each.

    If ``fn`` raises, nothing is timed and the error is recorded instead."""
    try:
        fn()  # warm-up
    except Exception as exc:  # noqa: BLE001
        return {"median_ns": None, "error": f"{type(exc).__qualname__}: {str(exc)[:160]}"}
    n = 1
    while True:  # calibrate the inner loop count
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter_ns() - t0
        if elapsed >= round_ns // 8 or n >= 1 << 22:
            break
        n *= 4
    n = max(1, int(n * round_ns / max(elapsed, 1)))
    per_call: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            t0 = time.perf_counter_ns()
            for _ in range(n):
                fn()
            per_call.append((time.perf_counter_ns() - t0) / n)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        "median_ns": statistics.median(per_call),
        "min_ns": min(per_call),
        "max_ns": max(per_call),
        "loops_per_round": n,
        "rounds": rounds,
    }


# --------------------------------------------------------------------------
# Correctness on the benchmark cases
# --------------------------------------------------------------------------


def check_agreement(cel_progs, celpy_progs_by_runner) -> list[dict[str, Any]]:
    """Evaluate every expression on every context variant of its group with
    every implementation; return one record per (expr, variant).  Results are
    compared after normalisation, including the Python result type name being
    ignored (cel returns ``bool``, celpy returns ``celtypes.BoolType``)."""
    records = []
    for expr in EXPRESSIONS:
        for variant, ctx in CONTEXTS[expr["group"]].items():
            rec: dict[str, Any] = {"expr": expr["name"], "variant": variant}
            rec["cel"] = outcome(lambda: cel_progs[expr["name"]].execute(ctx))
            rec["cel"].pop("type", None)
            for runner, progs in celpy_progs_by_runner.items():
                rec[runner] = outcome(lambda: progs[expr["name"]].evaluate(celpy_activation(ctx)))
                rec[runner].pop("type", None)
            # "agree": cel vs each celpy runner; both must succeed with equal values
            for runner in celpy_progs_by_runner:
                rec[f"agree_{runner}"] = rec["cel"]["ok"] and rec["cel"] == rec[runner]
            records.append(rec)
    return records


# --------------------------------------------------------------------------
# Semantic probes (differences between the two implementations)
# --------------------------------------------------------------------------

UTC = dt.timezone.utc
PLUS2 = dt.timezone(dt.timedelta(hours=2))

PROBES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    # (category, label, source, context)
    ("error", "syntax error", "score >= ", None),
    ("error", "undeclared variable", "missingVar == 1", {}),
    ("error", "type error 'a' + 1", "'a' + 1", None),
    ("error", "missing map key m['k']", "m['k'] == 1", {"m": {"a": 1}}),
    ("error", "missing map key m.k (select)", "m.k == 1", {"m": {"a": 1}}),
    ("error", "no such field on int", "x.foo", {"x": 1}),
    ("error", "unknown function", "foo(1)", None),
    ("error", "method on wrong type", "x.contains('a')", {"x": 5}),
    ("error", "int division by zero", "1 / 0", None),
    ("error", "int64 overflow", "9223372036854775807 + 1", None),
    ("numeric", "1 == 1.0 (literals)", "1 == 1.0", None),
    ("numeric", "int var == 1.0", "x == 1.0", {"x": 1}),
    ("numeric", "double var == 1", "x == 1", {"x": 1.0}),
    ("numeric", "int var > 0.5", "x > 0.5", {"x": 1}),
    ("numeric", "double var >= 1", "x >= 1", {"x": 1.5}),
    ("numeric", "int var compared to 900.0 (freshness as int)", "featureFreshnessSeconds > 900.0",
     {"featureFreshnessSeconds": 1800}),
    ("numeric", "[1] == [1.0]", "[1] == [1.0]", None),
    ("numeric", "int var == 1u", "x == 1u", {"x": 1}),
    ("numeric", "heterogeneous == (int vs string)", "x == 'a'", {"x": 1}),
    ("numeric", "bool + int", "x + 1", {"x": True}),
    ("numeric", "python int 2**63 input", "x > 0", {"x": 2**63}),
    ("has", "has() on missing field", "has(m.z)", {"m": {"a": 1}}),
    ("has", "has() on missing intermediate", "has(m.a.b)", {"m": {}}),
    ("has", "has() on undeclared root", "has(q.a)", {}),
    ("logic", "error || true (commutative)", "m.z || true", {"m": {}}),
    ("logic", "error && false (commutative)", "m.z && false", {"m": {}}),
    ("strings", "size() of non-ASCII string", "size(x)", {"x": "héllo"}),
    ("strings", "startsWith/contains", "x.startsWith('fr') && x.contains('aud')", {"x": "fraud"}),
    ("time", "getHours() of +02:00 timestamp", "x.getHours()",
     {"x": dt.datetime(2024, 1, 1, 12, tzinfo=PLUS2)}),
    ("time", "naive datetime input", "x == timestamp('2024-01-01T00:00:00Z')",
     {"x": dt.datetime(2024, 1, 1)}),
    ("time", "timedelta input", "x == duration('5s')", {"x": dt.timedelta(seconds=5)}),
    ("input", "tuple input", "x == [1, 2]", {"x": (1, 2)}),
    ("input", "None input", "x == null", {"x": None}),
    ("input", "bytes input", "x == b'ab'", {"x": b"ab"}),
    ("input", "set input", "size(x)", {"x": {1, 2}}),
    ("input", "int map keys", "x[1] == 'a'", {"x": {1: "a"}}),
    ("output", "type(1)", "type(1)", None),
    ("output", "map result", "{'a': [1, 2.5, true, null]}", None),
    ("output", "uint result", "1u", None),
]


NOTES = [
    "cel: Python values are converted to CEL on every execute(dict) call; cel.Context(dict) "
    "converts once (~1 us per int/bool/None, ~3 us per str/float, more per map). For the "
    "spec context conversion dominates the end-to-end time.",
    "cel: results come back as native Python values (bool/int/float/str/bytes/list/dict/None, "
    "tz-aware datetime, timedelta); uint comes back as int, type() as its name string.",
    "cel: input conversion - bool->bool, int->int (>int64 -> uint, >uint64 -> double), "
    "float->double, str->string, bytes->bytes, None->null, list/tuple->list, dict->map "
    "(keys str/int/bool; bool keys end up as ints; float/tuple/None keys -> ValueError), "
    "datetime->timestamp (naive = UTC), timedelta->duration; set/other -> ValueError.",
    "celpy: CELParser is a process-wide singleton built with the tree class of the first "
    "Environment; using CompiledRunner after InterpretedRunner needs "
    "celpy.CELParser.CEL_PARSER = None.",
    "celpy CompiledRunner: stores the activation in module globals before exec() (not "
    "thread-safe), wraps every failure in CELEvalError('evaluation error', ...) logged at "
    "ERROR, and fails on has()/&& inside macros (see agreement mismatches).",
    "celpy: Environment(annotations=...) only seeds run-time name resolution; there is no "
    "static type checking. cel has no declarations API either; Program.references() / "
    ".variables() give the referenced names for a home-grown undeclared-variable check.",
]


def run_probes(env: celpy.Environment) -> list[dict[str, Any]]:
    records = []
    for category, label, src, ctx in PROBES:
        a = run_cel(src, ctx)
        b = run_celpy(env, src, ctx)
        if a["ok"] and b["ok"]:
            verdict = "same" if a["value"] == b["value"] else "DIFFERENT VALUE"
        elif not a["ok"] and not b["ok"]:
            verdict = "both error" if a["phase"] == b["phase"] else "error in different phase"
        else:
            verdict = "ONLY cel ERRORS" if not a["ok"] else "ONLY celpy ERRORS"
        records.append({"category": category, "label": label, "src": src,
                        "context": repr(ctx), "cel": a, "celpy": b, "verdict": verdict})
    return records


def static_checking_probe() -> dict[str, Any]:
    """Does either library type-check against declared variable types?"""
    env = celpy.Environment(annotations={"score": celtypes.DoubleType})
    src = "score + 'suffix'"
    res: dict[str, Any] = {}
    try:
        prog = env.program(env.compile(src))
        res["celpy_compile_with_annotations"] = "accepted (no static type check)"
        res["celpy_eval_score_str"] = outcome(lambda: prog.evaluate({"score": celtypes.StringType("x")}))
        res["celpy_eval_score_double"] = outcome(lambda: prog.evaluate({"score": celtypes.DoubleType(1.0)}))
    except Exception as exc:  # noqa: BLE001
        res["celpy_compile_with_annotations"] = f"rejected: {type(exc).__name__}: {exc}"
    try:
        prog = cel.compile(src)
        res["cel_compile"] = "accepted (no declarations API; no static type check)"
        res["cel_references"] = prog.references()
    except Exception as exc:  # noqa: BLE001
        res["cel_compile"] = f"rejected: {type(exc).__name__}: {exc}"
    return res


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def fmt_ns(ns: float | None) -> str:
    if ns is None:
        return f"{'ERROR':>11}"
    if ns >= 1e6:
        return f"{ns / 1e6:8.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:8.2f} us"
    return f"{ns:8.0f} ns"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer/shorter rounds (smoke run)")
    ap.add_argument("--output", type=Path, default=RESULTS_PATH)
    args = ap.parse_args(argv)
    round_ns, rounds = (4_000_000, 5) if args.quick else (30_000_000, 7)
    started = time.perf_counter()

    # ---- environments & one-time setup ------------------------------------
    env_interp, env_interp_ns = make_celpy_env()  # builds the Lark parser

    # ---- (a) compile time ---------------------------------------------------
    compile_res: dict[str, dict[str, Any]] = {}
    cel_progs = {e["name"]: cel.compile(e["src"]) for e in EXPRESSIONS}
    interp_progs = {e["name"]: env_interp.program(env_interp.compile(e["src"])) for e in EXPRESSIONS}
    for e in EXPRESSIONS:
        compile_res[e["name"]] = {
            "cel": measure(lambda: cel.compile(e["src"]), round_ns, rounds),
            "celpy": measure(lambda: env_interp.program(env_interp.compile(e["src"])), round_ns, rounds),
        }
    env_comp, env_comp_ns = make_celpy_env(celpy.CompiledRunner)
    comp_progs = {e["name"]: env_comp.program(env_comp.compile(e["src"])) for e in EXPRESSIONS}
    for e in EXPRESSIONS:
        compile_res[e["name"]]["celpy_transpiled"] = measure(
            lambda: env_comp.program(env_comp.compile(e["src"])), round_ns, rounds
        )
    # Leave a parser with the CompiledRunner tree class in place: TranspilerTree
    # is a lark.Tree subclass, so env_interp can still compile (used by probes).

    # ---- correctness on the benchmark cases --------------------------------
    agreement = check_agreement(cel_progs, {"celpy": interp_progs, "celpy_transpiled": comp_progs})
    mismatches = [r for r in agreement if not r["agree_celpy"]]
    # CompiledRunner is reported separately: it is not celpy's default runner.
    transpiled_mismatches = [r for r in agreement if not r["agree_celpy_transpiled"]]

    # ---- (b)/(c) per-evaluation time ----------------------------------------
    eval_res: dict[str, dict[str, Any]] = {}
    for e in EXPRESSIONS:
        ctx = CONTEXTS[e["group"]]["base"]
        cel_ctx = cel.Context(ctx)
        act = celpy_activation(ctx)
        cp, ip, tp = cel_progs[e["name"]], interp_progs[e["name"]], comp_progs[e["name"]]
        eval_res[e["name"]] = {
            "group": e["group"],
            "cel_e2e": measure(lambda: cp.execute(ctx), round_ns, rounds),
            "cel_pre": measure(lambda: cp.execute(cel_ctx), round_ns, rounds),
            "celpy_e2e": measure(lambda: ip.evaluate(celpy_activation(ctx)), round_ns, rounds),
            "celpy_pre": measure(lambda: ip.evaluate(act), round_ns, rounds),
            "celpy_transpiled_e2e": measure(lambda: tp.evaluate(celpy_activation(ctx)), round_ns, rounds),
            "celpy_transpiled_pre": measure(lambda: tp.evaluate(act), round_ns, rounds),
        }

    # ---- per-request scenario: convert once, run all rules of the group ----
    request_res: dict[str, dict[str, Any]] = {}
    for group in ("prediction", "spec"):
        ctx = CONTEXTS[group]["base"]
        names = [e["name"] for e in EXPRESSIONS if e["group"] == group]
        cps = [cel_progs[n] for n in names]
        ips = [interp_progs[n] for n in names]
        tps = [comp_progs[n] for n in names]

        def cel_request(ctx=ctx, cps=cps):
            c = cel.Context(ctx)
            return [p.execute(c) for p in cps]

        def celpy_request(ctx=ctx, ps=ips):
            a = celpy_activation(ctx)
            return [p.evaluate(a) for p in ps]

        def celpy_t_request(ctx=ctx, ps=tps):
            a = celpy_activation(ctx)
            return [p.evaluate(a) for p in ps]

        request_res[group] = {
            "rules": names,
            "cel_convert_only": measure(lambda ctx=ctx: cel.Context(ctx), round_ns, rounds),
            "celpy_convert_only": measure(lambda ctx=ctx: celpy_activation(ctx), round_ns, rounds),
            "cel": measure(cel_request, round_ns, rounds),
            "celpy": measure(celpy_request, round_ns, rounds),
            "celpy_transpiled": measure(celpy_t_request, round_ns, rounds),
        }
        # The serving path's lowering (runtime/contracts/cel_lowering.py) where the group is in its subset:
        # every rule as one Python function over the raw dict, no conversion.
        lowered = lower_rules([(e["src"], None) for e in EXPRESSIONS if e["group"] == group], LOWERED_TYPES)
        if lowered is not None:
            assert list(lowered(ctx)) == cel_request(), f"{group}: the lowered rules disagree with cel"
            request_res[group]["lowered"] = measure(lambda ctx=ctx, f=lowered: f(ctx), round_ns, rounds)

    # ---- semantic probes ------------------------------------------------------
    probes = run_probes(env_interp)
    static = static_checking_probe()

    # ---- report -------------------------------------------------------------
    def ratio(a: dict, b: dict) -> float | None:
        if a["median_ns"] is None or b["median_ns"] is None:
            return None
        return round(a["median_ns"] / b["median_ns"], 1)

    def fr(x: float | None, width: int) -> str:
        return f"{'n/a':>{width}} " if x is None else f"{x:{width}.1f}x"

    print(f"\nCEL benchmark ({'quick' if args.quick else 'full'}; median of {rounds} rounds, "
          f"~{round_ns / 1e6:.0f} ms each)")
    print(f"cel {importlib.metadata.version('common-expression-language')}  vs  "
          f"celpy {importlib.metadata.version('cel-python')}  on Python {platform.python_version()}")
    print(f"one-off celpy Environment() (Lark grammar build): {fmt_ns(env_interp_ns)} "
          f"(CompiledRunner env: {fmt_ns(env_comp_ns)})\n")

    print("(a) compile per expression                cel        celpy   ratio  celpy-transp  ratio")
    for e in EXPRESSIONS:
        r = compile_res[e["name"]]
        print(f"  {e['name']:<28} {fmt_ns(r['cel']['median_ns'])} {fmt_ns(r['celpy']['median_ns'])} "
              f"{fr(ratio(r['celpy'], r['cel']), 6)} {fmt_ns(r['celpy_transpiled']['median_ns'])} "
              f"{fr(ratio(r['celpy_transpiled'], r['cel']), 6)}")

    for group, title in (("prediction", "(b) eval, prediction context"),
                         ("spec", "(c) eval, spec (K8s-like) context")):
        print(f"\n{title:<31} mode   cel        celpy    ratio  celpy-transp  ratio")
        for e in EXPRESSIONS:
            if e["group"] != group:
                continue
            r = eval_res[e["name"]]
            for mode in ("e2e", "pre"):
                c, p, t = r[f"cel_{mode}"], r[f"celpy_{mode}"], r[f"celpy_transpiled_{mode}"]
                label = e["name"] if mode == "e2e" else ""
                print(f"  {label:<28} {mode:>4} {fmt_ns(c['median_ns'])} {fmt_ns(p['median_ns'])} "
                      f"{fr(ratio(p, c), 7)} {fmt_ns(t['median_ns'])} {fr(ratio(t, c), 7)}")
        rq = request_res[group]
        print(f"  {'per request (convert+all rules)':<33} {fmt_ns(rq['cel']['median_ns'])} "
              f"{fmt_ns(rq['celpy']['median_ns'])} {fr(ratio(rq['celpy'], rq['cel']), 7)} "
              f"{fmt_ns(rq['celpy_transpiled']['median_ns'])} {fr(ratio(rq['celpy_transpiled'], rq['cel']), 7)}")
        if "lowered" in rq:
            print(f"  {'per request, lowered to Python':<33} {fmt_ns(rq['lowered']['median_ns'])}")
        print(f"  {'  of which context conversion':<33} {fmt_ns(rq['cel_convert_only']['median_ns'])} "
              f"{fmt_ns(rq['celpy_convert_only']['median_ns'])} "
              f"{fr(ratio(rq['celpy_convert_only'], rq['cel_convert_only']), 7)}")

    print(f"\nAgreement cel vs celpy (default InterpretedRunner): "
          f"{len(agreement) - len(mismatches)}/{len(agreement)} cases agree")
    for m in mismatches:
        print(f"  MISMATCH {m['expr']} [{m['variant']}]: cel={m['cel']} celpy={m['celpy']}")
    print(f"Agreement cel vs celpy CompiledRunner: "
          f"{len(agreement) - len(transpiled_mismatches)}/{len(agreement)} cases agree")
    for m in transpiled_mismatches:
        r = m["celpy_transpiled"]
        print(f"  MISMATCH {m['expr']} [{m['variant']}]: cel={m['cel'].get('value')!r} "
              f"celpy_transpiled={r.get('value', r.get('msg', '')[:90])!r}")

    print("\nSemantic probes where the libraries differ:")
    for p in probes:
        if p["verdict"] == "same":
            continue
        def short(r):
            return (f"{r['value']!r}" if r["ok"] else f"{r['phase']}:{r['exc'].split('.')[-1]}")
        print(f"  [{p['verdict']:<17}] {p['label']:<44} cel={short(p['cel']):<28} celpy={short(p['celpy'])}")

    elapsed = time.perf_counter() - started
    print(f"\nstatic checking: {json.dumps(static, default=str)}")
    print(f"total runtime {elapsed:.1f} s")

    out = {
        "generated_at": dt.datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {
            "common-expression-language": importlib.metadata.version("common-expression-language"),
            "cel-python": importlib.metadata.version("cel-python"),
        },
        "method": {
            "timer": "time.perf_counter_ns",
            "statistic": "median of per-call time over rounds",
            "rounds": rounds,
            "round_target_ns": round_ns,
            "gc_disabled_during_rounds": True,
            "e2e": "plain Python dict converted on every call",
            "pre": "context converted once (cel.Context / celpy activation)",
        },
        "expressions": EXPRESSIONS,
        "celpy_environment_creation_ns": {"interpreted": env_interp_ns, "compiled_runner": env_comp_ns},
        "compile": compile_res,
        "eval": eval_res,
        "per_request": request_res,
        "ratios_celpy_over_cel": {
            "compile": {n: ratio(r["celpy"], r["cel"]) for n, r in compile_res.items()},
            "eval_e2e": {n: ratio(r["celpy_e2e"], r["cel_e2e"]) for n, r in eval_res.items()},
            "eval_pre": {n: ratio(r["celpy_pre"], r["cel_pre"]) for n, r in eval_res.items()},
            "per_request": {g: ratio(r["celpy"], r["cel"]) for g, r in request_res.items()},
        },
        "agreement": {
            "cases": len(agreement),
            "mismatches_celpy": mismatches,
            "mismatches_celpy_transpiled": transpiled_mismatches,
            "records": agreement,
        },
        "semantic_probes": probes,
        "static_checking": static,
        "notes": NOTES,
        "runtime_s": round(elapsed, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2, default=repr) + "\n")
    print(f"wrote {args.output}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
