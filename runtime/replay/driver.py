"""Drive the online loop: publish a scenario's events through JetStream to
the real ingester, and ask the real server for predictions as the simulated
clock advances.

The clock is the events' time, not the wall clock: the replay starts where
the sample data ends, publishes one step (an hour by default) of events,
waits until the ingester has applied every one of them, then asks for a
prediction for every asset at the end of that step.  The online store may
already hold an asset's event that arrived after a step's end (the sample
data's last events arrive up to its allowed lateness after its end, and
materialize-online applies them all); the server rightly refuses a
prediction as of a time before that arrival, so such an asset is first asked
about at the first step end at or after it.  Its own stream,
subject and durable (suffixed with the run id) keep a rehearsal off any live
stream, and are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa

from runtime.contracts.steps import GeneratorConfig, IngestConfig, OnlineStoreConfig
from runtime.events import ARRIVAL_TIME, EVENT_ID
from runtime.replay.scenarios import Scenario

__all__ = ["ReplayError", "ReplayPlan", "ReplayResult", "accepted_events", "applied_until", "continue_after", "replay",
           "scenario_data"]

US = 1_000_000


class ReplayError(Exception):
    """The loop could not be driven (a service down, a process that died); the message says which."""


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    scenario: Scenario
    sample: GeneratorConfig  # the sample data set the scenario continues
    ingest_config: Path
    serve_url: str  # http://host:port of a running server
    model: str
    work_dir: Path  # where derived configs, logs, labels and the summary go
    days: float = 2.0
    step_s: float = 3600.0
    run_id: str = "r0"
    concurrency: int = 8
    start: datetime | None = None  # None: where the sample data ends (see continue_after)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    scenario: str
    run_id: str
    start: str
    end: str
    steps: int
    published: int
    applied: int
    duplicates: int
    dead_lettered: int
    predictions: int
    actions: dict[str, int]
    fallbacks: int
    errors: dict[str, int]
    labels: int
    labels_path: str
    elapsed_s: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in
                ((f, getattr(self, f)) for f in self.__dataclass_fields__)}


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us / US, tz=timezone.utc)


def scenario_data(plan: ReplayPlan) -> tuple[GeneratorConfig, pa.Table, pa.Table]:
    """The scenario's generator config, events and labels (deterministic).

    Same seed as the sample data, so the fleet is the same; event ids are
    re-keyed with the scenario and start so they never collide with the
    sample's (the online engine de-duplicates by event id)."""
    from runtime.data.generator import generate

    sample = plan.sample
    start = plan.start or sample.start + timedelta(days=sample.days)
    base: dict[str, Any] = sample.model_dump()
    # The fleet as it is at the sample's end: sensors already recalibrated stay so, and
    # the assets of the type that appeared during the sample report from the start.
    if sample.recalibration_at_day is not None:
        base["recalibration_at_day"] = 0.0
    if sample.new_asset_type_at_day is not None:
        base["new_asset_type_at_day"] = 0.0
    base.update(start=start, days=plan.days)
    base.update(plan.scenario.generator)
    cfg = GeneratorConfig.model_validate(base)
    data = generate(cfg)
    prefix = f"replay-{plan.scenario.name}-{start:%Y%m%d}-"

    def rekey(table: pa.Table) -> pa.Table:
        import pyarrow.compute as pc

        i = table.schema.get_field_index(EVENT_ID)
        return table.set_column(i, EVENT_ID, pc.binary_join_element_wise(pa.scalar(prefix), table[EVENT_ID], ""))

    return cfg, rekey(data.events), rekey(data.labels)


def continue_after(sample: GeneratorConfig, replays_dir: Path) -> datetime:
    """Where the next replay starts: the sample data's end, or the next UTC
    midnight after the latest earlier replay's end.  The online store holds
    the state those replays left, and it answers no point before it."""
    start = sample.start + timedelta(days=sample.days)
    for summary in sorted(replays_dir.glob("*/summary.json")):
        try:
            end = datetime.fromisoformat(json.loads(summary.read_text(encoding="utf-8"))["end"].replace("Z", "+00:00"))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a summary cut short by a crash: that replay's state is unknown, skip it
        if end > start:
            midnight = end.replace(hour=0, minute=0, second=0, microsecond=0)
            start = midnight if midnight == end else midnight + timedelta(days=1)
    return start


def accepted_events(config: IngestConfig, events: pa.Table) -> pa.Table:
    """The events the ingester applies (its contract check passes), one per
    event id: what the online path saw, for the live skew check's batch side."""
    from runtime.data.contract import check_record
    from runtime.stream.decode import Poison, decode_event
    from runtime.stream.publisher import encode_event

    seen: set[str] = set()
    keep = []
    for i, record in enumerate(events.to_pylist()):
        eid = str(record.get(EVENT_ID))
        # The ingester's own path: the message as published, decoded, then the contract check.
        decoded = decode_event(config.source, encode_event(config.source, record)[1])
        if eid in seen or isinstance(decoded, Poison) or check_record(config.source, decoded):
            continue
        seen.add(eid)
        keep.append(i)
    return events.take(pa.array(keep, pa.int64()))


def applied_until(online_store: OnlineStoreConfig, feature_sets: Sequence[str], assets: Sequence[str]) -> dict[str, int]:
    """Each asset's latest arrival (us) the online store already holds, over
    the feature sets (the server's own "latest event" for the asset); assets
    it holds nothing for are left out."""
    from runtime.features.store import StoreError, open_store
    from runtime.serving.online import STORE_ERRORS, StoreConfigError, store_url

    try:
        store = open_store(store_url(online_store))
    except (StoreError, StoreConfigError) as exc:
        raise ReplayError(f"the online store: {exc}") from None
    try:
        out: dict[str, int] = {}
        for asset in assets:
            clocks = [s.clock for s in (store.get(fs, asset) for fs in feature_sets) if s is not None]
            if clocks:
                out[asset] = max(clocks)
        return out
    except STORE_ERRORS as exc:
        raise ReplayError(f"the online store is unavailable: {type(exc).__name__}: {exc}") from None
    finally:
        store.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError:
        return 0, ""


def _ingest_counts(port: int) -> dict[str, float]:
    code, text = _get(f"http://127.0.0.1:{port}/metrics")
    out: dict[str, float] = {}
    if code == 200:
        for line in text.splitlines():
            if line.startswith("specops_ingest_") and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name.split("{", 1)[0].removeprefix("specops_ingest_").removesuffix("_total")] = float(value)
    return out


class _Ingester:
    """The real ingester (`python -m runtime ingest`) on the replay's own stream."""

    def __init__(self, plan: ReplayPlan) -> None:
        raw = json.loads(plan.ingest_config.read_text(encoding="utf-8"))
        config = IngestConfig.model_validate(raw)
        src = config.source
        suffix = plan.run_id.replace("-", "_").upper()
        source = src.model_copy(update={
            "stream": f"{src.stream}_REPLAY_{suffix}", "subject": f"{src.subject}.replay.{plan.run_id}",
            "durable": f"{src.durable or 'specops-' + src.name}-replay-{plan.run_id}"})
        consumer = config.consumer.model_copy(update={
            "dead_letter_stream": f"{config.consumer.dead_letter_stream}_REPLAY_{suffix}",
            "dead_letter_subject": f"{config.consumer.dead_letter_subject}.replay.{plan.run_id}"})
        self.port = _free_port()
        self.config = config.model_copy(update={"source": source, "consumer": consumer, "port": self.port})
        plan.work_dir.mkdir(parents=True, exist_ok=True)
        self.path = plan.work_dir / "ingest.json"
        self.path.write_text(self.config.model_dump_json(indent=2), encoding="utf-8")
        self.log_path = plan.work_dir / "ingest.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "runtime", "ingest", "--config", str(self.path)],
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ReplayError(f"the ingester exited with {self.proc.returncode}: {self.tail()}")
            if _get(f"http://127.0.0.1:{self.port}/readyz")[0] == 200:
                return
            time.sleep(0.2)
        raise ReplayError(f"the ingester was not ready within {timeout:.0f}s: {self.tail()}")

    def counts(self) -> dict[str, float]:
        return _ingest_counts(self.port)

    def wait_settled(self, published: int, timeout: float = 120.0) -> dict[str, float]:
        """Until every published event is applied, a duplicate or dead-lettered."""
        deadline = time.monotonic() + timeout
        while True:
            c = self.counts()
            if c.get("applied", 0) + c.get("duplicates", 0) + c.get("dead_lettered", 0) >= published:
                return c
            if self.proc.poll() is not None:
                raise ReplayError(f"the ingester exited with {self.proc.returncode}: {self.tail()}")
            if time.monotonic() > deadline:
                raise ReplayError(f"the ingester settled {c} of {published} published events within {timeout:.0f}s")
            time.sleep(0.05)

    def tail(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class _Stream:
    """One NATS connection (and one stream check) for the whole replay, on an
    event loop of its own, instead of one per step (a 2-day replay has 288)."""

    def __init__(self, config: IngestConfig) -> None:
        assert config.source.stream_url is not None
        self.config = config
        self.loop = asyncio.new_event_loop()
        self._nc: Any = None
        self._js: Any = None

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def _jetstream(self) -> Any:
        if self._js is None:
            import nats

            from runtime.stream.jetstream import connect_options, ensure_stream

            options = connect_options(self.config.source.stream_url or "", name="specops-replay")
            options.update(allow_reconnect=False)
            self._nc = self._run(nats.connect(**options))
            self._js = self._nc.jetstream()
            self._run(ensure_stream(self._js, self.config.source))
        return self._js

    def publish(self, rows: list[dict[str, object]]) -> int:
        from runtime.stream.publisher import publish_events

        js = self._jetstream()
        return int(self._run(publish_events(js, self.config.source, rows)).published)

    def close(self) -> None:
        """Delete the replay's streams (best effort: they may be gone) and disconnect."""
        try:
            js = self._jetstream()
            for name in (self.config.source.stream, self.config.consumer.dead_letter_stream):
                try:
                    self._run(js.delete_stream(name))
                except Exception:  # noqa: BLE001 - already gone
                    pass
        except Exception:  # noqa: BLE001 - NATS itself is gone: nothing left to delete
            pass
        finally:
            if self._nc is not None:
                try:
                    self._run(self._nc.close())
                except Exception:  # noqa: BLE001
                    pass
            self.loop.close()


def _chunks(events: pa.Table, start_us: int, step_us: int, steps: int) -> Iterator[tuple[int, list[dict[str, object]]]]:
    """(step end in us, the events that *arrived* in the step) in arrival order."""
    arrival = events[ARRIVAL_TIME].cast(pa.int64()).to_numpy()
    lo = 0
    for k in range(steps):
        end = start_us + (k + 1) * step_us
        hi = int((arrival < end).sum())
        yield end, events.slice(lo, hi - lo).to_pylist()
        lo = hi


def _predict_all(client: Any, url: str, model: str, assets: Sequence[str], at_us: int, run_id: str, step: int,
                 pool: ThreadPoolExecutor) -> list[tuple[int, dict[str, Any] | None]]:
    import httpx

    at = _iso(datetime.fromtimestamp(at_us / US, tz=timezone.utc))

    def one(asset: str) -> tuple[int, dict[str, Any] | None]:
        try:
            r = client.post(f"{url}/v1/models/{model}:predict", json={"instances": [{"entity": asset, "at": at}]},
                            headers={"x-request-id": f"replay-{run_id}-{step:05d}-{asset}"})
        except httpx.HTTPError:
            return 0, None
        if r.status_code != 200:
            return r.status_code, r.json() if r.headers.get("content-type", "").startswith("application/json") else None
        return 200, r.json()["predictions"][0]

    return list(pool.map(one, assets))


def replay(plan: ReplayPlan, progress: Callable[[str], None] = lambda _: None) -> ReplayResult:
    """Run the scenario through the loop; raises ReplayError when a part of it is down."""
    import pyarrow.parquet as pq

    started = time.perf_counter()
    code, _ = _get(f"{plan.serve_url}/v2/health/ready")
    if code != 200:
        raise ReplayError(f"no ready server at {plan.serve_url} (start one with `specops serve`)")
    cfg, events, labels = scenario_data(plan)
    start = cfg.start
    start_us = int(start.timestamp() * US)
    step_us = int(plan.step_s * US)
    steps = max(1, int(plan.days * 86400 / plan.step_s))
    plan.work_dir.mkdir(parents=True, exist_ok=True)
    labels_path = plan.work_dir / "labels.parquet"
    pq.write_table(labels, labels_path)  # the scenario's tickets, for monitoring to join as they mature
    ingester = _Ingester(plan)
    # What the online path will have applied, for the live skew check (monitor --events).
    pq.write_table(accepted_events(ingester.config, events), plan.work_dir / "events.parquet")
    stream = _Stream(ingester.config)
    published = 0
    actions: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    fallbacks = 0
    counts: dict[str, float] = {}
    try:
        ingester.wait_ready()
        seen: set[str] = set()  # assets with an event so far: the ones traffic would ask about
        # Read before the first publish: what the store held before this replay (the replay's own
        # events arrive before the step end they are published for, so they never move it past one).
        held = applied_until(ingester.config.online_store, [fs.name for fs in ingester.config.feature_sets],
                             sorted({str(a) for a in events["asset_id"].to_pylist()}))
        held_back: set[str] = set()  # assets not asked about at some step end because of held
        first_asked: dict[str, int] = {}
        import httpx

        # One client (its keep-alive connections) and one pool for every step.
        with ThreadPoolExecutor(plan.concurrency) as pool, httpx.Client(timeout=10) as client:
            for k, (end_us, rows) in enumerate(_chunks(events, start_us, step_us, steps)):
                if rows:
                    published += stream.publish(rows)
                    counts = ingester.wait_settled(published)
                    seen.update(str(r["asset_id"]) for r in rows)
                ask = sorted(a for a in seen if held.get(a, end_us) <= end_us)
                held_back.update(seen.difference(ask))
                for a in ask:
                    first_asked.setdefault(a, end_us)
                for status, body in _predict_all(client, plan.serve_url, plan.model, ask, end_us, plan.run_id, k,
                                                 pool):
                    if status == 200 and body is not None:
                        actions[str(body.get("action"))] += 1
                        fallbacks += 1 if body.get("breaker") else 0
                    else:
                        errors[str(status)] += 1
                if k % 6 == 5 or k == steps - 1:
                    progress(f"{_iso(datetime.fromtimestamp(end_us / US, tz=timezone.utc))}: {published} events, "
                             f"{sum(actions.values())} predictions, {sum(errors.values())} errors")
        counts = ingester.counts()
    finally:
        ingester.stop()
        stream.close()
    result = ReplayResult(
        scenario=plan.scenario.name, run_id=plan.run_id, start=_iso(start),
        end=_iso(start + timedelta(seconds=steps * plan.step_s)), steps=steps, published=published,
        applied=int(counts.get("applied", 0)), duplicates=int(counts.get("duplicates", 0)),
        dead_lettered=int(counts.get("dead_lettered", 0)), predictions=sum(actions.values()),
        actions=dict(sorted(actions.items())), fallbacks=fallbacks, errors=dict(sorted(errors.items())),
        labels=labels.num_rows, labels_path=str(labels_path), elapsed_s=round(time.perf_counter() - started, 3),
        notes=tuple(f"{a}: first asked as of {_iso(_dt(first_asked[a])) if a in first_asked else 'no step end'}: "
                    f"the online store already held its event that arrived at {_iso(_dt(held[a]))}"
                    for a in sorted(held_back)))
    (plan.work_dir / "summary.json").write_text(json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n",
                                                encoding="utf-8")
    return result
