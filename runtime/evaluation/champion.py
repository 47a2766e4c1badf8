"""Champion vs challenger on the same latest holdout window.

The champion is its release's ``model.onnx`` (calibration is in the graph,
so the one file the release pins by sha256 is the whole scorer).  Its
inputs are built from the encoding recorded in the graph's metadata, so a
champion trained on a different feature list is scored on its own features.
Anything that prevents a fair comparison (unreachable URI, sha256 mismatch,
a feature the table lacks) fails the comparison: an unverified challenger
never replaces a champion by default.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import fsspec
import onnx
from google.protobuf.message import DecodeError

from runtime.contracts.steps import EvaluateConfig, GateConfig, ReleaseRef
from runtime.evaluation.gates import LOWER_IS_BETTER, HoldoutScores, measure, onnx_scores
from runtime.export.convert import ExportError
from runtime.export.parity import onnx_scorer
from runtime.training.table import FeatureEncoding, TrainingTable, encode

__all__ = ["ChampionResult", "compare_with_champion"]


@dataclass(frozen=True)
class ChampionResult:
    status: str  # "no champion" | "compared" | "unavailable"
    passed: bool
    detail: dict[str, object]

    def to_json(self) -> dict[str, object]:
        return {"status": self.status, "passed": self.passed, **self.detail}


def _fetch(ref: ReleaseRef) -> bytes:
    with fsspec.open(ref.uri, "rb") as fh:
        return fh.read()  # type: ignore[no-any-return]


def _at(cfg: EvaluateConfig) -> float | None:
    gate: GateConfig | None = next((g for g in cfg.gates if g.metric == cfg.challenger_metric), None)
    return gate.at if gate else None


def _registry_champion(cfg: EvaluateConfig) -> ReleaseRef | None:
    """The registry version the alias names, as a release reference."""
    if not cfg.champion_alias:
        return None
    from runtime.registry import Registry, RegistryError

    try:
        entry = Registry(cfg.artifacts.uri).resolve(cfg.model, cfg.champion_alias)
    except (RegistryError, OSError):
        return None
    return ReleaseRef(name=f"{cfg.model}@{cfg.champion_alias}", version=entry.version, uri=entry.model_uri,
                      sha256=entry.sha256)


def compare_with_champion(cfg: EvaluateConfig, challenger: HoldoutScores, table: TrainingTable,
                          holdout: slice, cache: dict[str, object]) -> ChampionResult:
    ref = cfg.champion if cfg.champion is not None else _registry_champion(cfg)
    if ref is None:
        where = (f"no '{cfg.champion_alias}' in the registry at {cfg.artifacts.uri}" if cfg.champion_alias
                 else "no champion release in the production environment")
        return ChampionResult("no champion", True, {"note": where})
    base = {"release": ref.name, "version": ref.version, "uri": ref.uri, "metric": cfg.challenger_metric,
            "tolerance": cfg.challenger_tolerance}
    try:
        blob = _fetch(ref)
    except (OSError, ImportError, ValueError) as exc:
        return ChampionResult("unavailable", False, {**base, "error": f"cannot read the champion model: {exc}"})
    digest = hashlib.sha256(blob).hexdigest()
    if digest != ref.sha256:
        return ChampionResult("unavailable", False, {**base, "error": f"champion sha256 {digest} does not match the "
                                                                      f"release ({ref.sha256})"})
    try:
        meta = {p.key: p.value for p in onnx.load_from_string(blob).metadata_props}
        encoding = FeatureEncoding.from_json(json.loads(meta["specops.encoding"]))
    except (KeyError, ValueError, DecodeError) as exc:
        return ChampionResult("unavailable", False, {**base, "error": f"champion model has no readable feature encoding: {exc}"})
    missing = [f for f in encoding.features if f not in table.columns.column_names]
    if missing:
        return ChampionResult("unavailable", False, {**base, "error": f"the holdout lacks champion feature(s) {missing}"})
    champ_x = encode(table.columns.slice(holdout.start, holdout.stop - holdout.start), encoding)
    try:
        champ_p = onnx_scorer(blob)(champ_x)
    except RuntimeError as exc:  # onnxruntime's errors
        return ChampionResult("unavailable", False, {**base, "error": f"onnxruntime cannot score the champion: {exc}"})
    at = _at(cfg)
    champ = HoldoutScores(challenger.model, champ_x, challenger.y, champ_p, challenger.slices)
    champ_value, _ = measure(cfg.challenger_metric, champ, at, {})
    # Both sides through onnxruntime: the champion exists only as a graph, and
    # a rank metric over a small holdout moves with how near-ties break.
    try:
        chall_p = onnx_scores(challenger, cache)[0]
    except ExportError as exc:
        return ChampionResult("unavailable", False, {**base, "error": f"the challenger cannot be scored as ONNX: {exc}"})
    chall_onnx = HoldoutScores(challenger.model, challenger.x, challenger.y, chall_p, challenger.slices)
    chall_value, _ = measure(cfg.challenger_metric, chall_onnx, at, {})
    detail = {**base, "champion": champ_value, "challenger": chall_value, "rows": int(len(challenger.y))}
    if champ_value is None or chall_value is None:
        return ChampionResult("compared", False, {**detail, "error": "the metric is undefined on the holdout"})
    if cfg.challenger_metric in LOWER_IS_BETTER:
        ok = chall_value <= champ_value + cfg.challenger_tolerance
    else:
        ok = chall_value >= champ_value - cfg.challenger_tolerance
    return ChampionResult("compared", bool(ok), {**detail, "delta": chall_value - champ_value})
