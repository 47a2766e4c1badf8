"""The edge runner's state machine: what serves, and when that may change.

* Start-up: the ``current`` slot is re-verified and health-checked; if it
  fails, ``previous`` takes over (an ``edge_rollback`` incident and
  ``specops_edge_rollbacks_total``).  Then the configured bundle (the
  release git names) is installed unless this config's release was installed
  before (a newer bundle from the watched source may serve since).
* Install: peek at the source, fetch into staging, verify + health-check
  (``runtime.edge.loaded``), move into the store, switch the slots, then swap
  the in-memory reference.  Requests read that reference once, so in-flight
  requests finish on the bundle they started with.
* A refused bundle never touches the slots: the serving bundle keeps
  serving, the refusal is counted by reason and written as an incident.
* Poll: every ``poll_interval_s``, the configured source while it is not
  installed and the watched source; an unchanged source (same fingerprint)
  is not fetched again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.contracts.monitoring import Incident
from runtime.contracts.steps import EDGE_STORE_DIR, EdgeRunConfig
from runtime.edge.incidents import edge_incident, write_incident
from runtime.edge.loaded import BundleRejected, CheckPolicy, LoadedBundle, load_bundle
from runtime.edge.metrics import EdgeMetrics
from runtime.edge.source import BundleSource, FetchError, fetch, peek, registry_source, release_source
from runtime.edge.store import CURRENT, PREVIOUS, BundleStore

__all__ = ["EdgeRunner", "InvalidInput", "NotReady", "Outcome"]

log = logging.getLogger("runtime.edge")

APPLIED = "applied.json"  # the configured release last installed (so a restart does not downgrade)


class NotReady(Exception):
    """No verified bundle serves yet."""


class InvalidInput(Exception):
    """The request's feature vector does not fit the served bundle."""


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    source: str
    message: str
    version: str | None = None
    reason: str | None = None  # EDGE_REJECTION_REASONS when refused
    incident: str | None = None
    at_us: int = 0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _describe(b: LoadedBundle | None) -> dict[str, Any] | None:
    if b is None:
        return None
    return {"version": b.version, "manifest_sha256": b.manifest_sha256, "release_sha256": b.release_sha256,
            "health": b.health.to_json()}


class EdgeRunner:
    def __init__(self, config: EdgeRunConfig, policy: CheckPolicy, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.policy = policy
        self.clock = clock
        self.store = BundleStore(Path(config.work_dir) / EDGE_STORE_DIR)
        self.metrics = EdgeMetrics(config.model, config.environment)
        self.active: LoadedBundle | None = None
        self.previous: LoadedBundle | None = None
        self.history: deque[Outcome] = deque(maxlen=50)
        self._lock = threading.Lock()  # one install at a time (start-up, poll thread, POST /v1/poll)
        self._seen: dict[str, str] = {}  # source uri -> fingerprint last looked at

    def _now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    # ------------------------------------------------------------ start-up

    def start(self) -> None:
        with self._lock:
            self._recover()
            self._apply_configured(force=True)

    def _load_entry(self, entry: Path) -> LoadedBundle:
        origin = self.store.origin(entry)
        version = origin.get("version")
        return load_bundle(entry / "bundle", self.policy, version=str(version) if version else None)

    def _recover(self) -> None:
        current = self.store.slot(CURRENT)
        if current is None:
            return
        try:
            self._activate(self._load_entry(current))
            prev = self.store.slot(PREVIOUS)
            if prev is not None:
                self.previous = self._try_load(prev)
            return
        except BundleRejected as bad:
            problem = bad
        prev = self.store.slot(PREVIOUS)
        fallback = self._try_load(prev) if prev is not None else None
        evidence = {"current_manifest_sha256": current.name, "reason": problem.reason, "message": str(problem),
                    **problem.evidence}
        if fallback is not None:
            self.store.roll_back()
            self._activate(fallback)
            self.metrics.rolled_back(problem.reason)
            summary = (f"the current edge bundle on disk failed its check at start-up ({problem.reason}: {problem}); "
                       f"switched back to the previous bundle, version {fallback.version}")
            actions: tuple[str, ...] = ("rollback",)
            evidence["rolled_back_to"] = _describe(fallback)
        else:
            self.store.clear_current()  # a bad bundle never serves, even with nothing to fall back to
            self.metrics.rejected(problem.reason)
            summary = (f"the current edge bundle on disk failed its check at start-up ({problem.reason}: {problem}) "
                       "and there is no usable previous bundle; nothing serves until a good bundle is installed")
            actions = ()
        inc = self._incident(f"startup|{current.name}|{problem.reason}", summary, actions, evidence)
        self._record(Outcome(False, str(current), summary, None, problem.reason, inc.id, self._now_us()))
        log.error("edge-run: %s (incident %s)", summary, inc.id)

    def _try_load(self, entry: Path) -> LoadedBundle | None:
        try:
            return self._load_entry(entry)
        except BundleRejected as exc:
            log.error("edge-run: the previous bundle %s is not usable either: %s", entry.name, exc)
            return None

    # ------------------------------------------------------------ configured release

    def _configured(self) -> BundleSource:
        ref = self.config.bundle
        return release_source(ref.uri, ref.version, ref.sha256)

    def _applied(self) -> str | None:
        try:
            return json.loads((self.store.root / APPLIED).read_text(encoding="utf-8")).get("release_sha256")
        except (OSError, ValueError, AttributeError):
            return None

    def _mark_applied(self) -> None:
        tmp = self.store.root / f".{APPLIED}.tmp"
        tmp.write_text(json.dumps({"release_sha256": self.config.bundle.sha256, "version": self.config.bundle.version})
                       + "\n", encoding="utf-8")
        tmp.replace(self.store.root / APPLIED)

    def _apply_configured(self, force: bool) -> Outcome | None:
        sha = self.config.bundle.sha256
        if self.active is not None and (self._applied() == sha or self.active.release_sha256 == sha):
            self._mark_applied()
            return None
        outcome = self._install(self._configured(), force=force)
        if outcome is not None and outcome.accepted:
            self._mark_applied()
        return outcome

    # ------------------------------------------------------------ install

    def _install(self, source: BundleSource, *, force: bool) -> Outcome | None:
        """Install the bundle at ``source`` if it changed; None when unchanged."""
        try:
            seen = peek(source.uri)
        except FetchError as exc:
            self.metrics.rejected("fetch_failed")
            return self._record(Outcome(False, source.uri, str(exc), reason="fetch_failed", at_us=self._now_us()))
        if not force and self._seen.get(source.uri) == seen.fingerprint:
            return None
        self._seen[source.uri] = seen.fingerprint
        active = self.active
        if active is not None and seen.manifest_sha256 == active.manifest_sha256:
            return self._record(Outcome(True, source.uri, f"already serving version {active.version}", active.version,
                                        at_us=self._now_us()))
        staged = self.store.staging()
        try:
            fetch(source.uri, staged)
            loaded = load_bundle(staged, self.policy, version=source.version, release_sha256=source.release_sha256)
        except FetchError as exc:
            shutil.rmtree(staged, ignore_errors=True)
            self._seen.pop(source.uri, None)  # retried next poll
            self.metrics.rejected("fetch_failed")
            return self._record(Outcome(False, source.uri, str(exc), reason="fetch_failed", at_us=self._now_us()))
        except BundleRejected as exc:
            shutil.rmtree(staged, ignore_errors=True)
            return self._refuse(source, seen.fingerprint, seen.manifest_sha256, exc)
        entry = self.store.adopt(staged, loaded.manifest_sha256,
                                 {"version": loaded.version, "source": source.uri, "installed_at_us": self._now_us()})
        loaded = dataclasses.replace(loaded, path=entry / "bundle")
        self.store.switch(entry, self.config.keep_previous)
        old = self.active
        self._activate(loaded)
        self.previous = old if self.config.keep_previous and old is not None and old.path != loaded.path else self.previous
        message = (f"now serving version {loaded.version} (golden max |diff| {loaded.health.max_abs_diff:.2e}, "
                   f"p99 {loaded.health.p99_ms:.3f} ms)" + (f"; previous: {old.version}" if old else ""))
        log.warning("edge-run: %s from %s", message, source.uri)
        return self._record(Outcome(True, source.uri, message, loaded.version, at_us=self._now_us()))

    def _refuse(self, source: BundleSource, fingerprint: str, manifest_sha: str | None, exc: BundleRejected) -> Outcome:
        self.metrics.rejected(exc.reason)
        active = self.active
        keeps = f"version {active.version} keeps serving" if active else "nothing serves (no verified bundle yet)"
        summary = f"edge bundle from {source.uri} refused ({exc.reason}): {exc}; {keeps}"
        evidence = {"source": source.uri, "reason": exc.reason, "message": str(exc), "rejected_manifest_sha256": manifest_sha,
                    "source_fingerprint": fingerprint, "serving": _describe(active), **exc.evidence}
        inc = self._incident(f"{source.uri}|{fingerprint}|{exc.reason}", summary,
                             ("rollback",) if active else (), evidence)
        log.error("edge-run: %s (incident %s)", summary, inc.id)
        return self._record(Outcome(False, source.uri, summary, source.version, exc.reason, inc.id, self._now_us()))

    def _incident(self, key: str, summary: str, actions: tuple[str, ...], evidence: Mapping[str, Any]) -> Incident:
        inc = edge_incident(model=self.config.model, environment=self.config.environment, key=key, summary=summary,
                            actions=actions, evidence=evidence, now_us=self._now_us())
        write_incident(self.store.incidents, inc)
        return inc

    def _activate(self, loaded: LoadedBundle) -> None:
        self.active = loaded  # one reference swap: a request sees the old bundle or the new one, whole
        self.metrics.serving(loaded.version)

    def _record(self, outcome: Outcome) -> Outcome:
        self.history.append(outcome)
        return outcome

    # ------------------------------------------------------------ poll

    def poll_once(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        with self._lock:
            if self.active is None or self._applied() != self.config.bundle.sha256:
                o = self._apply_configured(force=False)
                if o is not None:
                    outcomes.append(o)
            watch = self.config.watch
            if watch:
                try:
                    source = (registry_source(self.config.artifacts.uri, self.config.model, watch.split(":", 1)[1])
                              if watch.startswith("registry:") else BundleSource(watch.rstrip("/"), None, None))
                except FetchError as exc:
                    self.metrics.rejected("fetch_failed")
                    outcomes.append(self._record(Outcome(False, watch, str(exc), reason="fetch_failed",
                                                         at_us=self._now_us())))
                else:
                    o = self._install(source, force=False)
                    if o is not None:
                        outcomes.append(o)
        return outcomes

    def poll_forever(self, stop: threading.Event) -> None:
        while not stop.wait(self.config.poll_interval_s):
            try:
                self.poll_once()
            except Exception:  # the poller must outlive any one bad poll; the bundle in memory keeps serving
                log.exception("edge-run: poll failed")

    # ------------------------------------------------------------ serve

    def predict(self, instances: Sequence[Any]) -> tuple[LoadedBundle, list[dict[str, Any]]]:
        bundle = self.active  # read once: this request finishes on this bundle
        if bundle is None:
            raise NotReady("no verified edge bundle serves yet")
        if not isinstance(instances, list) or not instances:
            raise InvalidInput("'instances' must be a non-empty list of feature vectors")
        scorer = bundle.scorer
        threshold = scorer.threshold
        out = []
        for i, inst in enumerate(instances):
            try:
                row = scorer.vector(_features(inst, scorer.features, i))
            except (ValueError, TypeError) as exc:  # a numeric feature sent as a non-number
                raise InvalidInput(f"instance {i}: {exc}") from None
            score = scorer.score(row)
            if not math.isfinite(score):
                raise ArithmeticError(f"instance {i}: the model returned {score}")
            out.append({"score": score, "decision": score >= threshold, "threshold": threshold})
        return bundle, out

    def status(self) -> dict[str, Any]:
        return {"model": self.config.model, "environment": self.config.environment,
                "serving": _describe(self.active), "previous": _describe(self.previous),
                "configured": {"version": self.config.bundle.version, "release_sha256": self.config.bundle.sha256,
                               "installed": self._applied() == self.config.bundle.sha256},
                "recent": [o.to_json() for o in self.history]}


def _features(inst: Any, names: tuple[str, ...], i: int) -> dict[str, Any]:
    if isinstance(inst, list):
        if len(inst) != len(names):
            raise InvalidInput(f"instance {i}: {len(inst)} values, the model takes {len(names)} ({', '.join(names)})")
        inst = dict(zip(names, inst))
    if not isinstance(inst, dict):
        raise InvalidInput(f"instance {i}: expected an object of feature values or a list in feature order")
    unknown = sorted(set(inst) - set(names))
    missing = [n for n in names if n not in inst]
    if unknown or missing:
        raise InvalidInput(f"instance {i}: " + "; ".join(
            p for p in (f"unknown features {unknown}" if unknown else "",
                        f"missing features {missing} (send null for a missing value)" if missing else "") if p))
    for name, value in inst.items():
        if isinstance(value, bool) or (value is not None and not isinstance(value, (int, float, str))):
            raise InvalidInput(f"instance {i}: feature {name!r} must be a number, a category string or null")
    return inst
