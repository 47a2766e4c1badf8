"""``python -m runtime materialize-online``: fill the local online store from
the validated snapshot (local runs only).

On one machine the event stream is a file replay (DESIGN: embedded
defaults), so this step does what the ingester does in a cluster: every
validated event, in arrival order, through the same ``OnlineEngine``.  The
store is rebuilt from scratch into a temporary file and swapped in whole, so
a rerun after new data never mixes old and new state, and a crash leaves the
previous store intact.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

from runtime.contracts.steps import MaterializeOnlineConfig
from runtime.events import ARRIVAL_TIME, EVENT_ID
from runtime.features.online import OnlineEngine
from runtime.features.store import ApplyResult, StoreError, open_store
from runtime.features.timestamps import to_us

__all__ = ["run"]

_SQLITE = "sqlite:///"


def run(config: MaterializeOnlineConfig) -> int:
    url = config.online_store.url
    if not url or not url.startswith(_SQLITE):
        print(f"error: materialize-online fills a local SQLite store only, got {url or config.online_store.url_env!r}; "
              "in a cluster the ingester fills the online store from the stream", file=sys.stderr)
        return 2
    target = Path(url.removeprefix(_SQLITE))
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_name(target.name + ".building")
    for stale in (building, building.with_name(building.name + "-wal"), building.with_name(building.name + "-shm")):
        stale.unlink(missing_ok=True)
    counts: dict[str, dict[str, int]] = {}
    # Replay in memory (the SQLite store commits one transaction per event, for
    # concurrent ingesters), then write each entity's final state once.
    memory = open_store("memory://")
    store = open_store(_SQLITE + str(building))
    try:
        for fs in config.feature_sets:
            path = Path(config.input) / f"{fs.source}.parquet"
            if not path.is_file():
                print(f"error: {path}: no validated data for source {fs.source!r} (run validate-data first)",
                      file=sys.stderr)
                return 1
            rows = [r for r in pq.read_table(path).to_pylist()
                    if r.get(fs.timestamp) is not None and r.get(fs.entity) is not None]
            rows.sort(key=lambda r: (to_us(r[ARRIVAL_TIME]) if r.get(ARRIVAL_TIME) is not None else to_us(r[fs.timestamp]),
                                     to_us(r[fs.timestamp]), str(r.get(EVENT_ID))))
            engine = OnlineEngine([fs], memory)
            applied = sum(1 for r in rows if engine.apply(r))
            entities = sorted({str(r[fs.entity]) for r in rows})
            for entity in entities:
                state = memory.get(fs.name, entity)
                if state is not None:
                    store.update(fs.name, entity, lambda _old, s=state: ApplyResult(s, True), fs.online_ttl_s)
            for record in memory.quarantined(fs.name):
                store.update(fs.name, "", lambda old, r=record: ApplyResult(old, False, r), fs.online_ttl_s)
            counts[fs.name] = {"events": len(rows), "applied": applied, "duplicates": len(rows) - applied,
                               "entities": len(entities), "quarantined": len(memory.quarantined(fs.name))}
    except (StoreError, ValueError) as exc:
        print(f"error: materialize-online: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
        memory.close()
    building.replace(target)
    report = {"model": config.model, "spec_hash": config.spec_hash, "store": url, "feature_sets": counts}
    out = Path(config.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    total = sum(c["applied"] for c in counts.values())
    sets = ", ".join(f"{name}: {c['entities']} entities" for name, c in counts.items())
    print(f"materialize-online {config.model}: {total} events into {url} ({sets})")
    return 0
