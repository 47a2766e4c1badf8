"""`python -m runtime replay` drives the real loop: generated scenario events
through NATS JetStream into the real ingester, predictions from the real
server at each simulated step, its own stream deleted afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.replay import SCENARIOS, scenario_named
from runtime.replay.driver import ReplayPlan, scenario_data
from runtime.contracts.steps import GenerateDataConfig
from tests.conftest import require_service
from tests.runtime.serving.served import MODEL, REPO, make_repo, start_server, stop_server

INGEST = "generated/runtime/ingest-sensor-stream/ingest.json"
SAMPLE = "generated/runtime/sample-data/generate-data.json"


def _sample() -> GenerateDataConfig:
    return GenerateDataConfig.model_validate(json.loads((REPO / SAMPLE).read_text()))


def test_scenarios_continue_the_sample_fleet_with_fresh_event_ids(tmp_path: Path) -> None:
    sample = _sample().generator
    plan = ReplayPlan(scenario=scenario_named("stationary"), sample=sample, ingest_config=REPO / INGEST,
                      serve_url="http://127.0.0.1:1", model=MODEL, work_dir=tmp_path, days=0.5)
    cfg, events, labels = scenario_data(plan)
    assert cfg.seed == sample.seed and cfg.assets == sample.assets  # the same fleet
    assert cfg.start.isoformat().startswith("2026-06-29")  # where the sample data ends
    ids = events["_event_id"].to_pylist()
    assert all(i.startswith("replay-stationary-20260629-") for i in ids)
    again = scenario_data(plan)[1]
    assert again.equals(events)  # deterministic


def test_every_scenario_is_a_valid_generator_config(tmp_path: Path) -> None:
    sample = _sample().generator
    for s in SCENARIOS:
        plan = ReplayPlan(scenario=s, sample=sample, ingest_config=REPO / INGEST, serve_url="http://x", model=MODEL,
                          work_dir=tmp_path, days=0.2)
        cfg, events, _ = scenario_data(plan)
        assert events.num_rows > 0, s.name
        for key, value in s.generator.items():
            assert getattr(cfg, key) == value, (s.name, key)


def test_an_unknown_scenario_is_refused_with_the_list() -> None:
    done = subprocess.run([sys.executable, "-m", "runtime", "replay", "--scenario", "nope", "--ingest-config", INGEST,
                           "--sample-config", SAMPLE, "--serve-url", "http://127.0.0.1:1", "--model", MODEL],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2
    assert "no replay scenario 'nope'" in done.stderr and "recalibration" in done.stderr


def _replay(root: Path, server: Any, run_id: str) -> dict[str, Any]:
    """A 6-hour recalibration replay against ``server``, as `specops replay` runs it; its summary."""
    done = subprocess.run(
        [sys.executable, "-m", "runtime", "replay", "--scenario", "recalibration", "--ingest-config", INGEST,
         "--sample-config", SAMPLE, "--serve-url", server.url, "--model", MODEL, "--days", "0.25",
         "--run-id", run_id, "--json"],
        cwd=root, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr + server.log()[-3000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.services
def test_replay_drives_ingester_and_server_through_nats(tmp_path: Path) -> None:
    require_service("NATS", "127.0.0.1", 4222)
    repo = make_repo(tmp_path)
    for rel in (INGEST, SAMPLE):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, tmp_path / rel)
    server = start_server(repo)
    try:
        summary = _replay(tmp_path, server, f"t{os.getpid()}")
    finally:
        stop_server(server)
    print(f"\nreplay recalibration 6 h: {summary['published']} events, {summary['applied']} applied, "
          f"{summary['duplicates']} duplicates, {summary['dead_lettered']} dead-lettered, "
          f"{summary['predictions']} predictions {summary['actions']}, errors {summary['errors']}, "
          f"{summary['elapsed_s']} s")
    assert summary["published"] > 0
    assert summary["applied"] + summary["duplicates"] + summary["dead_lettered"] == summary["published"]
    assert summary["errors"] == {}
    # every asset that has reported, every simulated hour (44 assets once all have reported)
    assert summary["steps"] * 30 < summary["predictions"] <= summary["steps"] * 44
    assert Path(summary["labels_path"]).is_file() or (tmp_path / summary["labels_path"]).is_file()


def test_a_replay_continues_after_the_latest_earlier_replay(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from runtime.replay.driver import continue_after

    sample = _sample().generator
    assert continue_after(sample, tmp_path).isoformat().startswith("2026-06-29T00:00")
    for name, end in (("a", "2026-06-30T00:00:00Z"), ("b", "2026-07-01T06:00:00Z"), ("c", None)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps({"end": end}) if end else "{")  # c: cut short
    assert continue_after(sample, tmp_path) == datetime(2026, 7, 2, tzinfo=timezone.utc)


def test_the_archived_events_are_what_the_ingester_accepts_once_each(tmp_path: Path) -> None:
    from runtime.contracts.steps import IngestConfig
    from runtime.replay.driver import accepted_events

    plan = ReplayPlan(scenario=scenario_named("sensor-faults"), sample=_sample().generator, ingest_config=REPO / INGEST,
                      serve_url="http://x", model=MODEL, work_dir=tmp_path, days=0.5)
    _, events, _ = scenario_data(plan)
    kept = accepted_events(IngestConfig.model_validate_json((REPO / INGEST).read_text()), events)
    ids = kept["_event_id"].to_pylist()
    assert len(ids) == len(set(ids)) < events.num_rows  # duplicates and contract violations left out
    assert kept.num_rows > 0.8 * events.num_rows


def _sample_tail(hours: float = 2.0) -> tuple[list[dict], int]:
    """The sample data's events that arrived in its last ``hours`` or after its
    end and that validate-data keeps (no later than the source's allowed
    lateness): what materialize-online leaves newest in the online store.
    Returns (records in arrival order, the sample's end in us)."""
    from datetime import timedelta

    from runtime.contracts.steps import ValidateDataConfig
    from runtime.data.generator import generate

    sample = _sample().generator
    validate = ValidateDataConfig.model_validate_json((REPO / "generated/runtime/pump-failure/validate-data.json")
                                                      .read_text())
    lateness = next(s for s in validate.sources if s.name == "sensor-events").allowed_lateness_s
    assert lateness == 7200.0
    end = sample.start + timedelta(days=sample.days)
    records = [r for r in generate(sample).events.to_pylist()
               if r["_arrival_time"] >= end - timedelta(hours=hours)
               and (r["_arrival_time"] - r["event_time"]).total_seconds() <= lateness]
    return records, int(end.timestamp()) * 1_000_000


def test_the_sample_data_arrives_past_its_end_into_the_first_replay_step() -> None:
    """Why a replay right after `make demo` once earned an HTTP 400: the
    sample ends at 2026-06-29T00:00Z by event time, but its late events keep
    arriving after that, and materialize-online applies every kept one."""
    from datetime import datetime, timezone

    records, end_us = _sample_tail()
    after = [(r["asset_id"], r["event_time"].isoformat(), r["_arrival_time"].isoformat()) for r in records
             if r["_arrival_time"].timestamp() * 1e6 >= end_us]
    assert after == [
        ("A00035", "2026-06-28T23:12:32.203130+00:00", "2026-06-29T00:12:38.200275+00:00"),
        ("A00020", "2026-06-28T23:16:40.321654+00:00", "2026-06-29T00:32:55.069997+00:00"),
    ]
    # The replay's first round (the default --step of 1800 s) is 175.07 s before A00020's arrival.
    latest = max(r["_arrival_time"] for r in records)
    assert (latest - datetime(2026, 6, 29, 0, 30, tzinfo=timezone.utc)).total_seconds() == 175.069997


@pytest.mark.services
def test_a_replay_asks_no_asset_before_an_arrival_the_store_already_holds(tmp_path: Path) -> None:
    """The store filled as `make demo` leaves it (the sample's last arrivals,
    A00020's at 00:32:55Z): the replay's 00:30Z round skips A00020 instead of
    earning a 400, and every later round asks it."""
    import httpx

    from runtime.features.online import OnlineEngine
    from runtime.features.store import open_store

    require_service("NATS", "127.0.0.1", 4222)
    repo = make_repo(tmp_path)
    for rel in (INGEST, SAMPLE):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, tmp_path / rel)
    records, end_us = _sample_tail()
    store = open_store(f"sqlite:///{tmp_path}/.specops/online/features.sqlite")
    engine = OnlineEngine(repo.config.feature_sets, store)
    assert sum(engine.apply(r) for r in records) > 40 * 4  # every asset, ~8 events each in 2 h
    store.close()
    server = start_server(repo)
    try:
        # The case itself: the server refuses a prediction as of before the held arrival (rightly).
        r = httpx.post(f"{server.url}/v1/models/{MODEL}:predict",
                       json={"instances": [{"entity": "A00020", "at": "2026-06-29T00:30:00Z"}]}, timeout=10)
        assert r.status_code == 400 and "2026-06-29T00:32:55.069997" in r.text, r.text
        summary = _replay(tmp_path, server, f"h{os.getpid()}")
    finally:
        stop_server(server)
    # The rounds the driver should make: every asset with a replay event by the step end, less
    # A00020 at 00:30Z only (the one step end before its held arrival).
    plan = ReplayPlan(scenario=scenario_named("recalibration"), sample=_sample().generator,
                      ingest_config=REPO / INGEST, serve_url="x", model=MODEL, work_dir=tmp_path, days=0.25)
    events = scenario_data(plan)[1]
    arrivals = [(t.timestamp() * 1e6, a) for t, a in zip(events["_arrival_time"].to_pylist(),
                                                         events["asset_id"].to_pylist())]
    rounds = [len({a for t, a in arrivals if t < end_us + (k + 1) * 1_800_000_000}) for k in range(12)]
    assert "A00020" in {a for t, a in arrivals if t < end_us + 1_800_000_000}  # asked about at 00:30Z, before the fix
    print(f"\nreplay after the sample's tail: {summary['predictions']} predictions, rounds {rounds}, "
          f"errors {summary['errors']}, notes {summary['notes']}")
    assert summary["steps"] == 12
    assert summary["errors"] == {}  # 0 HTTP 4xx (was {"400": 1})
    assert summary["predictions"] == sum(rounds) - 1
    assert summary["notes"] == ["A00020: first asked as of 2026-06-29T01:00:00Z: the online store already held "
                                "its event that arrived at 2026-06-29T00:32:55.069997Z"]
