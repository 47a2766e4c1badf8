"""``python -m runtime register``: a model that passed its gates becomes an
immutable registry version with a model card, aliased ``candidate``.

Reads the directories train and export-onnx wrote and the evaluation
report; refuses (exit 1) when the report says a gate failed, so a refused
model never gets a version, whatever ran before.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from runtime.contracts.steps import RegisterConfig
from runtime.registry import Registry, RegistryError, render_card_markdown
from runtime.digest import sha256_file
from runtime.registry.card import DataLineage, GateResult, ModelCard

__all__ = ["build_card", "run"]


class RegisterError(Exception):
    pass


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegisterError(f"{path}: missing (did the step that writes it run?)") from None
    except (OSError, ValueError) as exc:
        raise RegisterError(f"{path}: unreadable: {exc}") from None


def _day(seconds: object) -> str | None:
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return None
    return datetime.fromtimestamp(float(seconds), tz=timezone.utc).date().isoformat()


_COUNTS = frozenset({"rows", "positives", "best_iteration"})  # sizes, not quality metrics


def _floats(values: object) -> dict[str, float]:
    if not isinstance(values, dict):
        return {}
    return {str(k).replace(".", "_"): float(v) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and k not in _COUNTS}


def _cut_range(features_dir: str) -> tuple[str | None, str | None]:
    """First and last cut time of the training table (its time column)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        column = pq.read_table(Path(features_dir) / "training.parquet", columns=["cut_time"]).column("cut_time")
    except (OSError, KeyError, ValueError):
        return None, None
    if len(column) == 0:
        return None, None
    bounds = pc.min_max(column).as_py()
    return bounds["min"].date().isoformat(), bounds["max"].date().isoformat()


def _dvc_md5(input_path: str) -> str | None:
    """The hash dvc.lock records for the training table, when DVC ran us:
    the card and dvc.lock then name the same data."""
    lock = Path("dvc.lock")
    if not lock.is_file():
        return None
    doc = yaml.safe_load(lock.read_text(encoding="utf-8")) or {}
    for stage in (doc.get("stages") or {}).values():
        for out in stage.get("outs", []) or []:
            if isinstance(out, dict) and out.get("path") == input_path.rstrip("/"):
                return str(out.get("md5") or out.get("hash") or "") or None
    return None


def _code_version() -> str:
    try:
        return f"specops {version('specops')}"
    except PackageNotFoundError:
        return "specops (not installed)"


def build_card(config: RegisterConfig, model_version: str) -> ModelCard:
    model_dir, onnx_dir = Path(config.model_dir), Path(config.onnx_dir)
    training = _json(model_dir / "training.json")
    metrics = _json(model_dir / "metrics.json")
    threshold = _json(model_dir / "threshold.json")
    features = _json(model_dir / "features.json")
    export = _json(onnx_dir / "export.json")
    report = _json(Path(config.report))
    holdout = metrics.get("holdout", {}) if isinstance(metrics, dict) else {}
    slices = {str(k): _floats(v) for k, v in (holdout.get("slices") or {}).items()} if isinstance(holdout, dict) else {}
    gates = tuple(
        GateResult(name=f"{g['metric']}" + (f"@{g['at']:g}" if g.get("at") is not None else ""), metric=str(g["metric"]),
                   value=g.get("value") if isinstance(g.get("value"), (int, float)) else None, passed=bool(g.get("passed")),
                   detail=str(g.get("note") or ""))
        for g in report.get("gates", []))
    champion = report.get("champion") or {}
    if champion:
        gates += (GateResult(name="champion/challenger", metric=str(champion.get("metric", "")),
                             value=champion.get("challenger") if isinstance(champion.get("challenger"), (int, float)) else None,
                             passed=bool(champion.get("passed")), detail=str(champion.get("status", ""))),)
    fit, hold = training.get("fit", {}), training.get("holdout", {})
    start, end = _cut_range(str(training.get("input", "")))
    params = {**dict(training.get("params") or {}),
              **{k: training[k] for k in ("seed", "imbalance", "calibration") if k in training}}
    parity = (export.get("parity") or {}).get("max_abs_diff")
    return ModelCard(
        model=config.model, version=model_version, spec_hash=config.spec_hash, code_version=_code_version(),
        algorithm=str(training.get("algorithm")), params=params,
        features=tuple(f["name"] if isinstance(f, dict) else str(f) for f in features.get("features", ()))
        if isinstance(features, dict) else (),
        threshold=threshold.get("value"),
        training_data=DataLineage(sha256=str(training.get("training_data_sha256")),
                                  dvc_md5=_dvc_md5(str(training.get("input", ""))),
                                  rows=int(fit.get("rows", 0)) + int(hold.get("rows", 0)),
                                  start=start or _day(fit.get("until")), end=end or _day(hold.get("until"))),
        metrics=_floats(holdout), slices=slices, gates=gates,
        onnx_parity_max_abs_diff=parity if isinstance(parity, (int, float)) else None,
        lineage={"training_data": str(training.get("training_data_sha256"))},
    )


def run(config: RegisterConfig) -> int:
    try:
        report = _json(Path(config.report))
        if not report.get("passed"):
            failed = [g["metric"] for g in report.get("gates", []) if not g.get("passed")]
            print(f"register {config.model}: REFUSED: the evaluation did not pass ({', '.join(failed) or 'champion'}); "
                  "nothing was registered", file=sys.stderr)
            return 1
        onnx_dir, model_dir = Path(config.onnx_dir), Path(config.model_dir)
        files = {f"model/{p.relative_to(model_dir).as_posix()}": p for p in sorted(model_dir.rglob("*")) if p.is_file()}
        files |= {p.relative_to(onnx_dir).as_posix(): p for p in sorted(onnx_dir.rglob("*"))
                  if p.is_file() and not p.name.endswith(".key")}  # a signing key never leaves the machine
        files["evaluation.json"] = Path(config.report)
        registry = Registry(config.artifacts.uri)
        model_version = registry.version_for(config.model, sha256_file(onnx_dir / "model.onnx"))
        card = build_card(config, model_version)
        out = Path(config.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        card_json, card_md = out.parent / "card.json", out.parent / "card.md"
        card_json.write_text(card.model_dump_json(indent=2) + "\n", encoding="utf-8")
        card_md.write_text(render_card_markdown(card), encoding="utf-8")
        entry = registry.register(config.model, {**files, "card.json": card_json, "card.md": card_md}, "model.onnx",
                                  card.model_dump(mode="json"))
        registry.set_alias(config.model, "candidate", entry.version)
        # The evaluation passed, champion comparison included: locally the
        # version takes over (the old champion stays as "previous").
        for alias in config.promote_to:
            registry.set_alias(config.model, alias, entry.version)
        out.write_text(entry.model_dump_json(indent=2) + "\n", encoding="utf-8")
    except (RegisterError, RegistryError) as exc:
        print(f"error: register {config.model}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: register {config.model}: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    aliases = ", ".join(("candidate", *config.promote_to))
    print(f"register {config.model}: version {entry.version} ({entry.model_uri}), aliases {aliases}; card {card_md}",
          file=sys.stderr)
    return 0
