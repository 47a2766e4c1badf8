"""Features for a prediction: read from the online store, as of the
prediction time, by the same engine the ingester fills it with
(``runtime.features.online``), so serving cannot drift from training.

A fresh event sent with the request is checked against its source's data
contract and applied first (idempotent by event id, as the ingester does).
Freshness is the prediction time minus the entity's last applied arrival.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from runtime.contracts.steps import DataSourceConfig, FeatureSetConfig, OnlineStoreConfig
from runtime.events import ARRIVAL_TIME
from runtime.features.online import FeatureValue, OnlineEngine
from runtime.features.store import OnlineStore, StoreError, open_store
from runtime.features.timestamps import to_us
from runtime.serving.errors import BadInput, FeaturesUnavailable, UnknownEntity

__all__ = ["FeatureRead", "OnlineFeatures", "StoreConfigError", "store_url"]

US = 1_000_000


class StoreConfigError(Exception):
    """The configured online store cannot be opened; the message says why."""


def _store_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError, sqlite3.Error]
    try:
        import redis

        errors.append(redis.exceptions.RedisError)
    except ImportError:  # redis is a dependency; kept optional for a minimal edge image
        pass
    return tuple(errors)


STORE_ERRORS = _store_errors()


def store_url(config: OnlineStoreConfig | None) -> str:
    if config is None:
        return "memory://"
    if config.url:
        return config.url
    if config.url_env:
        value = os.environ.get(config.url_env)
        if not value:
            raise StoreConfigError(f"the online store URL comes from ${config.url_env}, which is not set "
                                   "(the InferenceService mounts it from the online store's Secret)")
        return value
    raise StoreConfigError("online_store has neither url nor url_env")


@dataclass(frozen=True, slots=True)
class FeatureRead:
    values: dict[str, FeatureValue]  # the model's features, in order
    ages_s: tuple[tuple[str, float], ...]  # (feature set, seconds since its last update)
    at_us: int

    @property
    def age_s(self) -> float:
        """The stalest feature set's age: what the freshness rules judge."""
        return max((a for _, a in self.ages_s), default=0.0)


class OnlineFeatures:
    def __init__(self, feature_sets: Sequence[FeatureSetConfig], features: Sequence[str], store: OnlineStore,
                 sources: Sequence[DataSourceConfig] = ()) -> None:
        self.engine = OnlineEngine(feature_sets, store)
        self.store = store
        self.features = tuple(features)
        self.definitions = self.engine.definitions
        self._readers = self.engine.readers  # prepared once per feature set (aligned with definitions)
        produced = {n for fs in self.definitions for n in (*fs.as_of, *(a.name for a in fs.aggregations))}
        missing = [f for f in self.features if f not in produced]
        if missing:
            raise StoreConfigError(f"the model's features {missing} are produced by none of its feature sets "
                                   f"({', '.join(fs.name for fs in self.definitions)}); recompile the specs")
        self._sources = {s.name: s for s in sources}
        self._fs_sources = {fs.name: fs.source for fs in feature_sets}
        self._entity_fields = {fs.entity for fs in feature_sets}
        self._time_fields = {fs.timestamp for fs in feature_sets}

    @classmethod
    def open(cls, feature_sets: Sequence[FeatureSetConfig], features: Sequence[str], config: OnlineStoreConfig | None,
             sources: Sequence[DataSourceConfig] = ()) -> OnlineFeatures:
        try:
            store = open_store(store_url(config))
        except StoreError as exc:
            raise StoreConfigError(str(exc)) from None
        return cls(feature_sets, features, store, sources)

    def apply_event(self, entity: str, event: Mapping[str, Any], at_us: int, where: str) -> None:
        record = dict(event)
        for name in sorted(self._entity_fields):
            if name not in record:
                raise BadInput(f"{where}.{name}: required (the entity key of the event)")
            if str(record[name]) != entity:
                raise BadInput(f"{where}.{name}: {record[name]!r} is not the instance's entity {entity!r}")
        for name in sorted(self._time_fields):
            if name not in record:
                raise BadInput(f"{where}.{name}: required (the event time)")
            try:
                event_us = to_us(record[name])
            except (TypeError, ValueError, OverflowError):
                raise BadInput(f"{where}.{name}: {record[name]!r} is not a time (ISO 8601 or a datetime)") from None
            if event_us > at_us:
                raise BadInput(f"{where}.{name}: the event is after the prediction time")
        for source_name in sorted({self._fs_sources[fs.name] for fs in self.definitions}):
            source = self._sources.get(source_name)
            if source is not None:
                self._check_contract(source, record, where)
        record[ARRIVAL_TIME] = datetime.fromtimestamp(at_us / US, tz=timezone.utc)
        try:
            self.engine.apply(record)
        except STORE_ERRORS as exc:
            raise FeaturesUnavailable(f"the online store is unavailable: {type(exc).__name__}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise BadInput(f"{where}: {exc}") from None

    @staticmethod
    def _check_contract(source: DataSourceConfig, record: Mapping[str, Any], where: str) -> None:
        from runtime.data.contract import check_record

        violations = check_record(source, {k: v for k, v in record.items() if k != "_event_id"})
        if violations:
            v = violations[0]
            more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
            raise BadInput(f"{where}.{v.column}: {v.message} (data contract of {source.name!r}){more}")

    def read(self, entity: str, at_us: int | None, now_us: int) -> FeatureRead:
        get = self.store.get
        try:
            states = [get(fs.name, entity) for fs in self.definitions]
        except STORE_ERRORS as exc:
            raise FeaturesUnavailable(f"the online store is unavailable: {type(exc).__name__}: {exc}") from None
        clocks = [state.clock for state in states if state is not None]
        if not clocks:
            raise UnknownEntity(f"entity {entity!r} has no online features (unknown, or no event within the "
                                "feature sets' time-to-live)")
        latest = max(clocks)
        if at_us is None:
            at = max(now_us, latest)  # the ingester's clock may run slightly ahead of ours
        elif at_us < latest:
            raise BadInput(f"at: the entity's latest event arrived after this time; predictions are as of "
                           f"{datetime.fromtimestamp(latest / US, tz=timezone.utc).isoformat()} or later")
        else:
            at = at_us
        values: dict[str, FeatureValue] = {}
        ages = []
        for reader, state in zip(self._readers, states):
            reader.read_into(state, at, values)  # every set into one dict: no per-set copy
            if state is not None:
                ages.append((reader.fs.name, (at - state.clock) / US))
        return FeatureRead({f: values[f] for f in self.features}, tuple(ages), at)

    def close(self) -> None:
        self.store.close()
