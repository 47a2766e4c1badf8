"""Training-serving skew injected into the online path: the online store
gets readings for some assets that never reach the events the batch engine
(and so training) reads.  The real predictor serves and logs (prediction
log); the live skew monitor recomputes the logged features point-in-time
with the batch engine and compares; the mismatch rate goes to the spec's
skew objective (skew_mismatch_rate max 0.01 over 1 h -> page).  A clean run
of the same traffic first: the monitor must find nothing there."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from harness import Drill, act, local_monitor_config, objective_result
from runtime.events import ARRIVAL_TIME, EVENT_ID, event_id
from runtime.features.online import OnlineEngine
from runtime.features.store import open_store
from runtime.predlog.reader import read_records
from runtime.serving.predictor import SpecOpsPredictor
from runtime.skew.live import check_live_skew
from tests.runtime.serving import served

__all__ = ["DRILL", "run"]

DRILL = Drill(name="training_serving_skew", failure_mode="training-serving skew injected into the online path",
              detector="runtime.skew.live.check_live_skew over the prediction log (runtime.predlog)",
              objective="skew", human="answer the page: find where the online path and the lake diverge")

SIZES = {"ci": {"minutes": 120, "step_min": 5}, "full": {"minutes": 360, "step_min": 2}}
SKEWED = ("P-CRIT",)   # the assets whose online state gets the extra reading
GHOST_VIBRATION = 20.0


def _events() -> pa.Table:
    """The events the online store was filled from, as validate-data writes them (the lake's copy)."""
    rows = [{**e, EVENT_ID: event_id(e)} for asset, (kind, crit, vib) in served.ASSETS.items()
            for e in served.asset_events(asset, kind, crit, vib)]
    return pa.Table.from_pylist(rows, schema=pa.schema([
        (EVENT_ID, pa.string()), ("asset_id", pa.string()), ("event_time", pa.timestamp("us", tz="UTC")),
        ("asset_type", pa.string()), ("criticality", pa.string()), ("temperature", pa.float64()),
        ("vibration", pa.float64()), ("pressure", pa.float64()), ("rpm", pa.float64()),
        ("technician_email", pa.string())]))


def _serve_and_check(work: Path, size: str, inject: bool) -> tuple[Any, int, int]:
    repo = served.make_repo(work)
    assert repo.config.prediction_log is not None, "the compiled serve config names no prediction log"
    cwd = Path.cwd()
    os.chdir(work)
    try:
        if inject:  # the fault hook: readings applied online that the lake never receives
            store = open_store(served.STORE)
            engine = OnlineEngine(repo.config.feature_sets, store)
            for asset in SKEWED:
                kind, crit, _ = served.ASSETS[asset]
                [ghost] = served.asset_events(asset, kind, crit, GHOST_VIBRATION, n=1, end=served.T0)
                engine.apply({**ghost, ARRIVAL_TIME: served.T0})
            store.close()
        predictor = SpecOpsPredictor(repo.config)
        assert predictor.load()
        s = SIZES[size]
        try:
            for n, minutes in enumerate(range(1, s["minutes"] + 1, s["step_min"])):
                at = served.iso(served.T0 + timedelta(minutes=minutes))
                predictor.predict({"instances": [{"entity": e, "at": at} for e in served.ASSETS]},
                                  {"x-request-id": f"s-{n}"})
            cfg = repo.config.prediction_log
            records = list(read_records(cfg.root, repo.config.model, predictor.prediction_log))
        finally:
            predictor.unload()
        sources = {fs.source for fs in repo.config.feature_sets}
        report = check_live_skew(repo.config.model, records, repo.config.feature_sets,
                                 {src: _events() for src in sources}, sample_rate=1.0)
        last_us = max(r.at_us for r in records)  # the traffic's own clock: the incident id is reproducible
        return report, len(records), last_us
    finally:
        os.chdir(cwd)


def run(size: str, work: Path) -> dict[str, Any]:
    config = local_monitor_config(work / "monitor")
    out: dict[str, Any] = {}
    for name, inject in (("clean", False), ("skewed", True)):
        report, served_n, last_us = _serve_and_check(work / name, size, inject)
        rate = None if report.consistency_rate is None else 1.0 - report.consistency_rate
        result = objective_result(config, "skew", rate, last_us, evidence={
            "checked": report.checked, "consistent": report.consistent,
            "mismatched_features": sorted({m.feature for m in report.mismatches})[:10]})
        enforcement = act(config, [result], last_us)
        out[name] = {"predictions": served_n, "checked": report.checked, "consistent": report.consistent,
                     "mismatch_rate": None if rate is None else round(rate, 4), "status": result.status,
                     "entities": sorted({m.entity for m in report.mismatches}),
                     "mismatched_features": sorted({m.feature for m in report.mismatches}),
                     "actions": [{"action": f["action"], "incident": f["incident"], "ok": f["ok"]}
                                 for f in enforcement.fired]}
    skewed = out["skewed"]
    return {
        "injected": {"assets": list(SKEWED), "of": len(served.ASSETS), "ghost_vibration": GHOST_VIBRATION,
                     "where": "online store only (the lake's events never hold it)"},
        "detected": skewed["status"] == "breach" and set(skewed["entities"]) == set(SKEWED),
        "monitor_runs_to_detect": 1,
        "clean_mismatch_rate": out["clean"]["mismatch_rate"],
        "clean_actions": out["clean"]["actions"],
        "skewed_mismatch_rate": skewed["mismatch_rate"],
        "bound": 0.01,
        "objective_breached": ["skew"] if skewed["status"] == "breach" else [],
        "actions": skewed["actions"],
        "runs": out,
    }
