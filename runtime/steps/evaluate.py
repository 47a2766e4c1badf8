"""``python -m runtime evaluate --config evaluate.json``: the promotion gates.

Scores the model directory on its own latest holdout window (recorded by
train), checks every declared gate and the champion/challenger rule, writes
the report (JSON) and prints a readable summary.  Exit 0 all passed, 1 a
gate failed (the report says which and by how much), never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from runtime.contracts.steps import EvaluateConfig
from runtime.evaluation.champion import compare_with_champion
from runtime.evaluation.gates import HoldoutScores, evaluate_gate
from runtime.export.convert import ExportError
from runtime.export.holdout import model_windows
from runtime.training.model_dir import ModelDirError, dump_json, read_model_dir
from runtime.training.pipeline import REPORT_PRECISION, slice_metrics
from runtime.training.metrics import summary
from runtime.training.table import TableError

__all__ = ["run"]


def _fmt(v: object) -> str:
    return "n/a" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def run(config: EvaluateConfig) -> int:
    try:
        report = _evaluate(config)
    except (ModelDirError, TableError, ExportError) as exc:
        print(f"error: evaluate {config.model}: {exc}", file=sys.stderr)
        return 1
    dump_json(Path(config.output), report)
    lines = [f"evaluate {config.model}: holdout {report['holdout']['rows']} rows "
             f"({report['holdout']['positives']} positive)"]
    for g in report["gates"]:
        bound = f">= {g['min']:g}" if g["min"] is not None else f"<= {g['max']:g}"
        at = f"@{g['at']:g}" if g["at"] is not None else ""
        lines.append(f"  {'PASS' if g['passed'] else 'FAIL'}  {g['metric']}{at} = {_fmt(g['value'])} (needs {bound})"
                     + (f"  [{g['note']}]" if g.get("note") else ""))
    c = report["champion"]
    if c["status"] == "compared":
        lines.append(f"  {'PASS' if c['passed'] else 'FAIL'}  champion {c['release']}: {c['metric']} challenger "
                     f"{_fmt(c['challenger'])} vs champion {_fmt(c['champion'])} (tolerance {c['tolerance']:g})")
    else:
        lines.append(f"  {'PASS' if c['passed'] else 'FAIL'}  champion: {c['status']}"
                     + (f" ({c['error']})" if c.get("error") else ""))
    lines.append(f"evaluate {config.model}: {'PASSED' if report['passed'] else 'REFUSED'} -> {config.output}")
    print("\n".join(lines), file=sys.stderr)
    return 0 if report["passed"] else 1


def _evaluate(cfg: EvaluateConfig) -> dict[str, Any]:
    md = read_model_dir(Path(cfg.model_dir))
    extra = (cfg.slice_column,) if cfg.slice_column else ()
    win = model_windows(md, Path(cfg.input), extra)
    x, y = win.x[win.holdout], win.table.y[win.holdout]
    p = md.predict(x)
    slices = (tuple(win.table.columns.column(cfg.slice_column).to_pylist()[win.holdout])
              if cfg.slice_column else None)
    h = HoldoutScores(md, x, y, p, slices)
    cache: dict[str, object] = {}
    gates = [evaluate_gate(g, h, cache) for g in cfg.gates]
    champion = compare_with_champion(cfg, h, win.table, win.holdout, cache)
    report: dict[str, Any] = {
        "model": cfg.model, "spec_hash": cfg.spec_hash,
        "training_data_sha256": md.training["training_data_sha256"],
        "holdout": {**md.training["holdout"], "positives": int(y.sum())},
        "metrics": summary(y, p, md.threshold.value, precision=REPORT_PRECISION),
        "threshold": md.threshold.to_json(),
        "gates": [g.to_json() for g in gates],
        "champion": champion.to_json(),
    }
    if slices is not None:
        report["slices"] = slice_metrics(list(slices), y, p, md.threshold.value)
    report["passed"] = all(g.passed for g in gates) and champion.passed
    return report
