"""Feature sets as both engines see them: the compiled FeatureSetConfig,
checked once and turned into one typed definition.

Semantics (the same in the batch and the online engine):

* The feature vector of (entity, t) uses only events with event time <= t
  that had arrived by t (``_arrival_time`` <= t; absent, the event time).
* A windowed aggregation over window w uses events with event time in
  (t - w, t]: an event exactly w old has left the window.
* Aggregations skip NULL values.  ``count`` without a column counts events,
  with a column its non-NULL values; ``sum`` of nothing is 0; ``mean``,
  ``min``, ``max``, ``last`` and ``time_since_last`` of nothing are NULL;
  ``std`` is the sample standard deviation (NULL below two values).
  ``last`` is the latest non-NULL value by (event time, event id);
  ``time_since_last`` is t minus the latest event time in the window, in
  seconds.
* Attributes and transforms are carried as of t: the latest non-NULL value
  within the feature set's largest window (transforms are computed per
  event first, so an aggregation may also use a transform).
* Late events: an event is late when it arrived more than
  ``allowed_lateness`` after its event time.  ``drop`` and ``quarantine``
  leave late events out of every feature (quarantine keeps them aside);
  ``reprocess`` (and no policy) applies them once they have arrived.
* A duplicate ``_event_id`` is counted once (the first to arrive).
* Online only: with ``online.ttl``, an entity whose state was not updated
  for longer than the TTL has no state (Redis expires the key; every store
  behaves alike), so a TTL shorter than a window shows up in parity.

Definitions that could see the future are refused: a feature computed from
the label source or the label's outcome column, a system column, or a
transform reading other rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from runtime.contracts.steps import FeatureSetConfig, LabelConfig
from runtime.features.expression import Expr, ExpressionError, columns_of, parse

__all__ = [
    "AggregationDef",
    "FeatureDefinitionError",
    "FeatureSetDef",
    "LatePolicy",
    "TransformDef",
    "define",
]

US = 1_000_000
Function = Literal["count", "sum", "mean", "min", "max", "std", "last", "time_since_last"]
EXACT_FUNCTIONS = frozenset({"count", "min", "max", "last", "time_since_last"})


class FeatureDefinitionError(ValueError):
    """A feature definition the engines refuse; the message names the feature set and field."""


@dataclass(frozen=True, slots=True)
class LatePolicy:
    allowed_lateness_us: int | None
    policy: Literal["drop", "quarantine", "reprocess"] | None

    def is_late(self, event_us: int, arrival_us: int) -> bool:
        return self.allowed_lateness_us is not None and arrival_us - event_us > self.allowed_lateness_us

    @property
    def excludes_late(self) -> bool:
        return self.allowed_lateness_us is not None and self.policy in ("drop", "quarantine")

    def sql_is_late(self, event_us: str, arrival_us: str) -> str:
        if self.allowed_lateness_us is None:
            return "FALSE"
        return f"({arrival_us} - {event_us} > {self.allowed_lateness_us})"


@dataclass(frozen=True, slots=True)
class AggregationDef:
    name: str
    column: str | None
    function: Function
    window_us: int

    @property
    def exact(self) -> bool:
        return self.function in EXACT_FUNCTIONS


@dataclass(frozen=True, slots=True)
class TransformDef:
    name: str
    expr: Expr
    type: Literal["float", "int", "bool", "string"]


@dataclass(frozen=True, slots=True)
class FeatureSetDef:
    name: str
    source: str
    entity: str
    timestamp: str
    attributes: tuple[str, ...]
    transforms: tuple[TransformDef, ...]
    aggregations: tuple[AggregationDef, ...]
    max_window_us: int  # bounds every lookup, and what the online engine keeps
    ttl_s: float | None
    ttl_us: int | None  # online state not updated for this long is gone
    late: LatePolicy
    source_columns: tuple[str, ...]  # declared source columns the definition reads (besides entity/time)
    series: tuple[str, ...]  # columns whose non-NULL values are kept per entity (aggregated or as-of)
    sum_series: tuple[str, ...]  # series that need exact running sums (sum, mean, std)
    square_series: tuple[str, ...]  # series that need exact running sums of squares (std)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return (*self.attributes, *(a.name for a in self.aggregations), *(t.name for t in self.transforms))

    @property
    def as_of(self) -> tuple[str, ...]:
        return (*self.attributes, *(t.name for t in self.transforms))


def _where(fs: FeatureSetConfig, what: str) -> str:
    return f"feature set {fs.name!r}, {what}"


def _define_one(fs: FeatureSetConfig, names: set[str], label: LabelConfig | None) -> FeatureSetDef:
    if fs.source in names:
        raise FeatureDefinitionError(
            f"feature set {fs.name!r} is derived from feature set {fs.source!r}: the runtime computes feature sets "
            "over data sources only; point it at the data source")
    if label is not None and fs.source == label.source:
        raise FeatureDefinitionError(
            f"feature set {fs.name!r} reads the label source {label.source!r}: its features would contain the outcome "
            "it predicts (future information); compute features from event sources only")

    def check_column(column: str, what: str) -> None:
        if column.startswith("_"):
            raise FeatureDefinitionError(f"{_where(fs, what)}: {column!r} is a system column, not a feature input")
        if label is not None and column == label.outcome:
            raise FeatureDefinitionError(
                f"{_where(fs, what)}: {column!r} is the label's outcome column: a feature derived from the label "
                "sees the future; remove it from the feature set")
        if column in (fs.entity, fs.timestamp):
            raise FeatureDefinitionError(f"{_where(fs, what)}: {column!r} is the entity or time column")

    for attr in fs.attributes:
        check_column(attr, f"attribute {attr!r}")
    transforms: list[TransformDef] = []
    known_transforms: set[str] = set()
    for t in fs.transforms:
        try:
            expr = parse(t.expression)
        except ExpressionError as exc:
            raise FeatureDefinitionError(f"{_where(fs, f'transform {t.name!r}')}: expression {t.expression!r}: {exc}") from None
        for col in columns_of(expr):
            if col not in t.inputs:
                raise FeatureDefinitionError(
                    f"{_where(fs, f'transform {t.name!r}')}: the expression reads {col!r}, which is not in its "
                    f"inputs {list(t.inputs)}; add it to inputs")
        for col in t.inputs:
            if col not in known_transforms:
                check_column(col, f"transform {t.name!r} input")
        transforms.append(TransformDef(t.name, expr, t.type))
        known_transforms.add(t.name)
    aggregations: list[AggregationDef] = []
    for a in fs.aggregations:
        if a.column is None and a.function not in ("count", "time_since_last"):
            raise FeatureDefinitionError(f"{_where(fs, f'aggregation {a.name!r}')}: {a.function} needs a column")
        if a.column is not None and a.column not in known_transforms:
            check_column(a.column, f"aggregation {a.name!r}")
        window_us = round(a.window_s * US)
        if window_us <= 0:
            raise FeatureDefinitionError(f"{_where(fs, f'aggregation {a.name!r}')}: the window must be positive")
        aggregations.append(AggregationDef(a.name, a.column, a.function, window_us))
    if aggregations:
        max_window = max(a.window_us for a in aggregations)
    elif fs.online_ttl_s:
        max_window = round(fs.online_ttl_s * US)
    else:
        raise FeatureDefinitionError(
            f"feature set {fs.name!r} has no aggregation and no online.ttl: nothing bounds how far back its "
            "attributes are looked up; add a windowed aggregation or online.ttl")
    feature_names = [*fs.attributes, *(a.name for a in aggregations), *known_transforms]
    dupes = sorted({n for n in feature_names if feature_names.count(n) > 1})
    if dupes:
        raise FeatureDefinitionError(f"feature set {fs.name!r} defines {dupes} more than once")

    source_columns: list[str] = []

    def use(col: str) -> None:
        if col not in known_transforms and col not in source_columns:
            source_columns.append(col)

    for attr in fs.attributes:
        use(attr)
    for t in fs.transforms:
        for col in t.inputs:
            use(col)
    series: list[str] = [*fs.attributes, *known_transforms]
    for agg in aggregations:
        if agg.column is not None:
            use(agg.column)
            if agg.column not in series:
                series.append(agg.column)
    sums = [c for c in series if any(a.column == c and a.function in ("sum", "mean", "std") for a in aggregations)]
    squares = [c for c in series if any(a.column == c and a.function == "std" for a in aggregations)]
    return FeatureSetDef(
        name=fs.name, source=fs.source, entity=fs.entity, timestamp=fs.timestamp, attributes=fs.attributes,
        transforms=tuple(transforms), aggregations=tuple(aggregations), max_window_us=max_window,
        ttl_s=fs.online_ttl_s, ttl_us=round(fs.online_ttl_s * US) if fs.online_ttl_s else None,
        late=LatePolicy(round(fs.allowed_lateness_s * US) if fs.allowed_lateness_s is not None else None, fs.late_policy),
        source_columns=tuple(source_columns), series=tuple(series), sum_series=tuple(sums), square_series=tuple(squares),
    )


def define(feature_sets: Sequence[FeatureSetConfig], label: LabelConfig | None = None,
           features: Sequence[str] | None = None) -> tuple[FeatureSetDef, ...]:
    """Check the feature sets (and that they provide ``features``); raise
    FeatureDefinitionError naming the feature set and field on the first problem."""
    names = {fs.name for fs in feature_sets}
    defs = tuple(_define_one(fs, names, label) for fs in feature_sets)
    provided: dict[str, str] = {}
    for d in defs:
        for n in d.feature_names:
            if n in provided:
                raise FeatureDefinitionError(f"feature {n!r} is defined by both {provided[n]!r} and {d.name!r}")
            provided[n] = d.name
    if label is not None and label.outcome in provided:
        raise FeatureDefinitionError(
            f"feature {label.outcome!r} (feature set {provided[label.outcome]!r}) has the name of the label's outcome "
            "column: a label-derived feature sees the future")
    for n in features or ():
        if n not in provided:
            raise FeatureDefinitionError(
                f"the model's feature {n!r} is not defined by any feature set ({', '.join(sorted(names))})")
    if len({d.entity for d in defs}) > 1:
        raise FeatureDefinitionError(f"feature sets use different entities: {sorted({d.entity for d in defs})}")
    return defs
