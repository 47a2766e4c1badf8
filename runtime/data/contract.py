"""Data contracts from a DataSource's compiled config: batch and record checks.

Row rules (each row may break several; ``_violation`` lists them):
  null      a non-nullable column is null (NaN counts as null)
  range     a numeric value outside the declared [min, max]
  category  a value that is not among the declared values
  late      arrived more than ``allowedLateness`` after its event time
  duplicate the same ``_event_id`` again (the first arrival is kept)

Batch rules (a breach fails the batch):
  schema.*              missing, extra or wrongly typed columns (per file)
  null_fraction         nulls per column above ``maxNullFraction``
  out_of_range_fraction out-of-range values per column above ``maxOutOfRangeFraction``
  duplicate_fraction    duplicates above ``maxDuplicateFraction``
  bad_fraction          rows breaking null/range/category above ``maxBadFraction``
  quarantine            any such row when the quarantine action is ``fail``
  freshness             the newest event older than ``freshness.maxAge``
  min_rows              fewer valid rows than ``minRows``

Nothing disappears silently: rows in = rows out + quarantined + dropped, and
every rule's count is in the report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from runtime.contracts.steps import DataSourceConfig, FieldConfig
from runtime.data.sources import LoadedSource
from runtime.events import ARRIVAL_TIME, EVENT_ID, canonical_json

__all__ = ["VIOLATION", "ContractOutcome", "RuleResult", "Violation", "apply_contract", "check_record"]

VIOLATION = "_violation"  # quarantine column: "rule:column;rule:column"
_EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    column: str
    message: str


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: str
    column: str | None
    status: str  # "pass" | "fail" | "warn"
    count: int  # rows (or files) concerned
    action: str  # what happened to them: none, quarantine, drop, reprocess, fail
    detail: str
    examples: tuple[Mapping[str, object], ...] = ()

    def as_json(self) -> dict[str, object]:
        return {"rule": self.rule, "column": self.column, "status": self.status, "count": self.count,
                "action": self.action, "detail": self.detail, "examples": list(self.examples)}


@dataclass(frozen=True, slots=True)
class ContractOutcome:
    source: str
    rows_in: int
    valid: pa.Table | None  # None when the batch fails
    quarantined: pa.Table | None  # bad rows + _violation
    dropped: int
    results: tuple[RuleResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.status != "fail" for r in self.results)

    @property
    def rows_out(self) -> int:
        return self.valid.num_rows if self.valid is not None else 0

    @property
    def rows_quarantined(self) -> int:
        return self.quarantined.num_rows if self.quarantined is not None else 0


def _examples(table: pa.Table, mask: np.ndarray) -> tuple[Mapping[str, object], ...]:
    idx = np.flatnonzero(mask)[:_EXAMPLES]
    if not idx.size:
        return ()
    return tuple(json.loads(canonical_json(r)) for r in table.take(pa.array(idx)).to_pylist())


def _mask(array: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _null_mask(column: pa.ChunkedArray, f: FieldConfig) -> np.ndarray:
    if f.type == "float":
        return _mask(pc.is_null(column, nan_is_null=True))
    return _mask(pc.is_null(column))


def _range_mask(column: pa.ChunkedArray, f: FieldConfig) -> np.ndarray:
    bad = np.zeros(len(column), dtype=bool)
    if f.min is not None:
        bad |= _mask(pc.less(column, f.min))
    if f.max is not None:
        bad |= _mask(pc.greater(column, f.max))
    return bad


def _pct(count: int, total: int) -> str:
    return f"{count}/{total} rows ({100.0 * count / total:.2f}%)" if total else f"{count} rows"


def apply_contract(loaded: LoadedSource, as_of: datetime | None = None) -> ContractOutcome:
    """Check a loaded batch against its contract; split it into valid,
    quarantined and dropped rows.  ``as_of`` is the freshness reference
    (the wall clock when None)."""
    source = loaded.source
    results: list[RuleResult] = []
    if loaded.table is None:
        for p in loaded.problems:
            results.append(RuleResult(p.rule, p.column, "fail", 1, "fail", p.message))
        rows = sum(f.rows for f in loaded.files)
        return ContractOutcome(source.name, rows, None, None, 0, tuple(results))

    table = loaded.table
    n = table.num_rows
    labels: dict[str, np.ndarray] = {}  # "rule:column" -> rows breaking it
    bad = np.zeros(n, dtype=bool)
    for f in source.fields:
        column = table[f.name]
        nulls = _null_mask(column, f)
        if not f.nullable and nulls.any():
            labels[f"null:{f.name}"] = nulls
            bad |= nulls
        nulls_n = int(nulls.sum())
        if f.nullable:
            ok = n == 0 or nulls_n / n <= source.max_null_fraction
            results.append(RuleResult("null_fraction", f.name, "pass" if ok else "fail", nulls_n, "none" if ok else "fail",
                                      f"{_pct(nulls_n, n)} null; limit {source.max_null_fraction:.2%}",
                                      () if ok else _examples(table, nulls)))
        else:
            results.append(RuleResult("null", f.name, "pass" if not nulls_n else "fail", nulls_n,
                                      "none" if not nulls_n else source.quarantine_action,
                                      f"{_pct(nulls_n, n)} null in a non-nullable column", _examples(table, nulls)))
        if f.min is not None or f.max is not None:
            out = _range_mask(column, f)
            count = int(out.sum())
            if count:
                labels[f"range:{f.name}"] = out
                bad |= out
            ok = n == 0 or count / n <= source.max_out_of_range_fraction
            results.append(RuleResult("out_of_range_fraction", f.name, "pass" if ok else "fail", count,
                                      source.quarantine_action if count else "none",
                                      f"{_pct(count, n)} outside [{f.min}, {f.max}]; limit "
                                      f"{source.max_out_of_range_fraction:.2%}", _examples(table, out)))
        if f.values:
            unknown = _mask(pc.invert(pc.is_in(column, value_set=pa.array(list(f.values))))) & ~nulls
            count = int(unknown.sum())
            if count:
                labels[f"category:{f.name}"] = unknown
                bad |= unknown
            seen = sorted({str(v) for v in pc.unique(pc.filter(column, pa.array(unknown))).to_pylist()}) if count else []
            results.append(RuleResult("category", f.name, "pass" if not count else "fail" if source.quarantine_action == "fail" else "warn",
                                      count, source.quarantine_action if count else "none",
                                      f"{_pct(count, n)} not in {list(f.values)}" + (f": {seen[:10]}" if seen else ""),
                                      _examples(table, unknown)))

    bad_n = int(bad.sum())
    if source.quarantine_action == "fail":
        ok = bad_n == 0
        results.append(RuleResult("quarantine", None, "pass" if ok else "fail", bad_n, "none" if ok else "fail",
                                  f"{_pct(bad_n, n)} break the contract and the quarantine action is 'fail'"))
    else:
        ok = n == 0 or bad_n / n <= source.max_bad_fraction
        results.append(RuleResult("bad_fraction", None, "pass" if ok else "fail", bad_n,
                                  source.quarantine_action if bad_n else "none",
                                  f"{_pct(bad_n, n)} break null/range/category rules; limit {source.max_bad_fraction:.2%}",
                                  _examples(table, bad)))

    # Late events: judged by when the row arrived, not by its event time.
    late = np.zeros(n, dtype=bool)
    if source.allowed_lateness_s is not None and n:
        lateness = pc.subtract(table[ARRIVAL_TIME], table[source.timestamp])
        limit = pa.scalar(int(source.allowed_lateness_s * 1_000_000), pa.duration("us"))
        late = _mask(pc.greater(lateness, limit))
        count = int(late.sum())
        policy = source.late_policy or "quarantine"
        results.append(RuleResult("late", source.timestamp, "pass" if not count else "warn", count,
                                  policy if count else "none",
                                  f"{_pct(count, n)} arrived more than {source.allowed_lateness_s:g}s after their event time",
                                  _examples(table, late)))
        if policy == "reprocess":
            late = np.zeros(n, dtype=bool)  # kept: a reprocess recomputes the windows they fall in
        else:
            labels["late:" + source.timestamp] = late

    # Duplicates: the first arrival of an _event_id is kept, later ones are copies.
    arrival_order = pc.sort_indices(table, sort_keys=[(ARRIVAL_TIME, "ascending"), (EVENT_ID, "ascending")])
    ids = table[EVENT_ID].take(arrival_order)
    ordered_ids = ids.to_numpy(zero_copy_only=False)
    _, first = np.unique(ordered_ids, return_index=True)
    dup_sorted = np.ones(n, dtype=bool)
    dup_sorted[first] = False
    dup = np.zeros(n, dtype=bool)
    dup[arrival_order.to_numpy()] = dup_sorted
    dup_n = int(dup.sum())
    if dup_n:
        labels[f"duplicate:{EVENT_ID}"] = dup
    ok = n == 0 or dup_n / n <= source.max_duplicate_fraction
    results.append(RuleResult("duplicate_fraction", EVENT_ID, "pass" if ok else "fail", dup_n,
                              ("drop" if source.quarantine_action == "drop" else "quarantine") if dup_n else "none",
                              f"{_pct(dup_n, n)} repeat an earlier _event_id; limit {source.max_duplicate_fraction:.2%}",
                              _examples(table, dup)))

    removed = bad | late | dup
    valid = table.filter(pa.array(~removed))
    rule_names = sorted(labels)
    text = np.full(n, "", dtype=object)
    for name in rule_names:
        m = labels[name]
        text[m] = np.where(text[m] == "", name, text[m] + ";" + name)
    # What leaves the batch goes to quarantine unless the contract says drop
    # (bad rows, duplicates) or the late policy says drop (late rows); dropped
    # rows are counted, never silent.
    broken = bad | dup
    dropped_mask = (broken & (source.quarantine_action == "drop")) | (late & ~broken & (source.late_policy == "drop"))
    quarantine_mask = removed & ~dropped_mask
    quarantined = table.filter(pa.array(quarantine_mask)).append_column(
        VIOLATION, pa.array(text[quarantine_mask].tolist(), pa.string()))
    dropped = int(dropped_mask.sum())

    valid_n = valid.num_rows
    if source.freshness_max_age_s is not None and valid_n:
        newest = pc.max(valid[source.timestamp]).as_py()
        now = (as_of or datetime.now(timezone.utc)).astimezone(timezone.utc)
        age = (now - newest).total_seconds()
        stale = age > source.freshness_max_age_s
        status = "pass" if not stale else ("fail" if source.freshness_severity == "error" else "warn")
        results.append(RuleResult("freshness", source.timestamp, status, 0, "fail" if status == "fail" else "none",
                                  f"newest event {newest.isoformat()} is {age:.0f}s old at {now.isoformat()}; "
                                  f"limit {source.freshness_max_age_s:g}s"))
    ok = valid_n >= source.min_rows
    results.append(RuleResult("min_rows", None, "pass" if ok else "fail", valid_n, "none" if ok else "fail",
                              f"{valid_n} valid rows; at least {source.min_rows} required"))

    passed = all(r.status != "fail" for r in results)
    sort = [(source.entity, "ascending"), (source.timestamp, "ascending"), (EVENT_ID, "ascending")]
    return ContractOutcome(
        source=source.name, rows_in=n, valid=valid.sort_by(sort) if passed else None,
        quarantined=quarantined.sort_by(sort), dropped=dropped, results=tuple(results))


# ------------------------------------------------------------------ records


def _type_ok(f: FieldConfig, value: object) -> bool:
    if f.type in ("string", "category"):
        return isinstance(value, str)
    if f.type == "int":
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if f.type == "float":
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if f.type == "bool":
        return isinstance(value, (bool, np.bool_))
    if f.type == "timestamp":
        return _as_time(value) is not None
    return False


def _as_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def check_record(source: DataSourceConfig, record: Mapping[str, object], *,
                 now: datetime | None = None) -> tuple[Violation, ...]:
    """The contract for one event (the ingester's check): empty means OK.
    With ``now``, an event older than the allowed lateness is ``late``."""
    out: list[Violation] = []
    declared = {f.name for f in source.fields}
    for key in sorted(k for k in record if not k.startswith("_") and k not in declared):
        out.append(Violation("schema.extra", key, f"field {key!r} is not declared in data source {source.name!r}"))
    for f in source.fields:
        value = record.get(f.name)
        if value is None or (isinstance(value, float) and value != value):
            if not f.nullable:
                what = "missing" if f.name not in record else "null"
                out.append(Violation("null", f.name, f"{f.name!r} is {what} but not nullable"))
            continue
        if not _type_ok(f, value):
            out.append(Violation("schema.type", f.name, f"{f.name!r} = {value!r} is not a {f.type}"))
            continue
        if f.type in ("int", "float"):
            number = float(value)  # type: ignore[arg-type]
            if (f.min is not None and number < f.min) or (f.max is not None and number > f.max):
                out.append(Violation("range", f.name, f"{f.name!r} = {value!r} is outside [{f.min}, {f.max}]"))
        if f.values and value not in f.values:
            out.append(Violation("category", f.name, f"{f.name!r} = {value!r} is not one of {list(f.values)}"))
    if now is not None and source.allowed_lateness_s is not None:
        when = _as_time(record.get(source.timestamp))
        if when is not None:
            lag = (now.astimezone(timezone.utc) - when).total_seconds()
            if lag > source.allowed_lateness_s:
                out.append(Violation("late", source.timestamp,
                                     f"event is {lag:.0f}s old, beyond the allowed lateness of {source.allowed_lateness_s:g}s"))
    return tuple(out)
