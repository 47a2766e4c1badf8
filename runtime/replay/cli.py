"""``python -m runtime replay --scenario NAME --ingest-config FILE --sample-config FILE --serve-url URL``

Exit status: 0 the scenario was driven through the loop, 1 a part of the
loop was down or died (the message says which), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from runtime.contracts.steps import GenerateDataConfig
from runtime.replay.driver import ReplayError, ReplayPlan, continue_after, replay
from runtime.replay.scenarios import SCENARIOS, ScenarioError, scenario_named

__all__ = ["run_args"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m runtime replay", description="Drive the online loop with a scenario.")
    p.add_argument("--scenario", help="the scenario (--list shows them)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--ingest-config", type=Path, help="the stream ingester's config (generated/runtime/ingest-*/ingest.json)")
    p.add_argument("--sample-config", type=Path, help="the sample data's generate-data config the scenario continues")
    p.add_argument("--serve-url", help="a running server, e.g. http://127.0.0.1:8080")
    p.add_argument("--model", help="the model to ask for predictions")
    p.add_argument("--days", type=float, default=2.0, help="simulated days to replay (default 2)")
    p.add_argument("--step", type=float, default=1800.0, help="simulated seconds between prediction rounds")
    p.add_argument("--work-dir", type=Path, default=Path(".specops/replay"), help="where the run's files go")
    p.add_argument("--run-id", help="names the run's stream and files (default: random)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def run_args(argv: Sequence[str]) -> int:
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as exc:
        return 2 if exc.code else 0
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:16} {s.description}")
        return 0
    missing = [f"--{n.replace('_', '-')}" for n in ("scenario", "ingest_config", "sample_config", "serve_url", "model")
               if getattr(args, n) is None]
    if missing:
        print(f"error: replay needs {', '.join(missing)}", file=sys.stderr)
        return 2
    if not (0 < args.days <= 60) or not (60 <= args.step <= 86400):
        print("error: --days must be in (0, 60] and --step in [60, 86400] seconds", file=sys.stderr)
        return 2
    try:
        scenario = scenario_named(args.scenario)
        sample = GenerateDataConfig.model_validate(json.loads(args.sample_config.read_text(encoding="utf-8"))).generator
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: {args.sample_config}: {exc}", file=sys.stderr)
        return 2
    if not args.ingest_config.is_file():
        print(f"error: {args.ingest_config}: no such ingest config (run `specops compile`)", file=sys.stderr)
        return 2
    run_id = args.run_id or uuid.uuid4().hex[:8]
    plan = ReplayPlan(scenario=scenario, sample=sample, ingest_config=args.ingest_config,
                      serve_url=args.serve_url.rstrip("/"), model=args.model,
                      work_dir=args.work_dir / f"{scenario.name}-{run_id}", days=args.days, step_s=args.step,
                      run_id=run_id, start=continue_after(sample, args.work_dir))
    try:
        result = replay(plan, progress=lambda line: print(line, file=sys.stderr, flush=True))
    except ReplayError as exc:
        print(f"error: replay {scenario.name}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        acts = ", ".join(f"{n} {a}" for a, n in result.actions.items()) or "none"
        errs = ", ".join(f"{n}x HTTP {c}" for c, n in result.errors.items()) or "none"
        print(f"replayed {scenario.name} {result.start} -> {result.end} ({result.steps} steps) in {result.elapsed_s:.1f}s\n"
              f"  events: {result.published} published, {result.applied} applied, {result.duplicates} duplicates, "
              f"{result.dead_lettered} dead-lettered\n"
              f"  predictions: {result.predictions} ({acts}); fallbacks {result.fallbacks}; errors {errs}\n"
              f"  labels: {result.labels} tickets in {result.labels_path}\n"
              f"  summary: {plan.work_dir / 'summary.json'}")
        for note in result.notes:
            print(f"  note: {note}")
    return 0
