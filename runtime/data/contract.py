"""Data contracts from a DataSource's compiled config: batch and record checks.

Row rules (each row may break several; ``_violation`` lists them):
  null      a non-nullable column is null (NaN counts as null)
  range     a numeric value outside the declared [min, max]
  category  a value that is not among the declared values
  late      arrived more than ``allowedLateness`` after its event time
  future    stamped more than a minute after it arrived (a skewed clock): it
            would be visible to point-in-time joins before it happened
  duplicate the same ``_event_id`` again (the first arrival is kept)

Batch rules (a breach fails the batch):
  schema.*              missing, extra or wrongly typed columns (per file)
  null_fraction         nulls per column above ``maxNullFraction``
  out_of_range_fraction out-of-range values per column above ``maxOutOfRangeFraction``
  duplicate_fraction    duplicates above ``maxDuplicateFraction``
  bad_fraction          rows breaking null/range/category/future above ``maxBadFraction``
  quarantine            any such row when the quarantine action is ``fail``
  freshness             the newest event older than ``freshness.maxAge``
  min_rows              fewer valid rows than ``minRows``

Nothing disappears silently: rows in = rows out + quarantined + dropped, and
every rule's count is in the report.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from runtime.contracts.steps import DataSourceConfig, FieldConfig
from runtime.data.sources import LoadedSource
from runtime.events import ARRIVAL_TIME, EVENT_ID, canonical_json

__all__ = ["BATCH_RULES", "ROW_RULES", "VIOLATION", "ContractOutcome", "RuleResult", "Violation", "apply_contract",
           "check_record"]

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


def _row_status(count: int, source: DataSourceConfig) -> str:
    """A row rule fails the batch only when bad rows may not be set aside."""
    return "pass" if not count else "fail" if source.quarantine_action == "fail" else "warn"


def _pct(count: int, total: int) -> str:
    return f"{count}/{total} rows ({100.0 * count / total:.2f}%)" if total else f"{count} rows"


@dataclass(frozen=True, slots=True)
class _Finding:
    """What one row rule found: its results, and the rows it takes out of
    the batch under a violation label ("rule:column")."""

    kind: str  # "bad" (null/range/category/future: quarantine action), "late" (late policy), "duplicate"
    results: tuple[RuleResult, ...]
    rows: tuple[tuple[str, np.ndarray], ...] = ()


def _field_rules(table: pa.Table, source: DataSourceConfig) -> _Finding:
    """Nulls, ranges and categories, column by column."""
    n = table.num_rows
    results: list[RuleResult] = []
    rows: list[tuple[str, np.ndarray]] = []
    for f in source.fields:
        column = table[f.name]
        nulls = _null_mask(column, f)
        nulls_n = int(nulls.sum())
        if f.nullable:
            ok = n == 0 or nulls_n / n <= source.max_null_fraction
            results.append(RuleResult("null_fraction", f.name, "pass" if ok else "fail", nulls_n, "none" if ok else "fail",
                                      f"{_pct(nulls_n, n)} null; limit {source.max_null_fraction:.2%}",
                                      () if ok else _examples(table, nulls)))
        else:
            if nulls_n:
                rows.append((f"null:{f.name}", nulls))
            results.append(RuleResult("null", f.name, _row_status(nulls_n, source), nulls_n,
                                      source.quarantine_action if nulls_n else "none",
                                      f"{_pct(nulls_n, n)} null in a non-nullable column", _examples(table, nulls)))
        if f.min is not None or f.max is not None:
            out = _range_mask(column, f)
            count = int(out.sum())
            if count:
                rows.append((f"range:{f.name}", out))
            ok = n == 0 or count / n <= source.max_out_of_range_fraction
            results.append(RuleResult("out_of_range_fraction", f.name, "pass" if ok else "fail", count,
                                      source.quarantine_action if count else "none",
                                      f"{_pct(count, n)} outside [{f.min}, {f.max}]; limit "
                                      f"{source.max_out_of_range_fraction:.2%}", _examples(table, out)))
        if f.values:
            unknown = _mask(pc.invert(pc.is_in(column, value_set=pa.array(list(f.values))))) & ~nulls
            count = int(unknown.sum())
            if count:
                rows.append((f"category:{f.name}", unknown))
            seen = sorted({str(v) for v in pc.unique(pc.filter(column, pa.array(unknown))).to_pylist()}) if count else []
            results.append(RuleResult("category", f.name, _row_status(count, source), count,
                                      source.quarantine_action if count else "none",
                                      f"{_pct(count, n)} not in {list(f.values)}" + (f": {seen[:10]}" if seen else ""),
                                      _examples(table, unknown)))
    return _Finding("bad", tuple(results), tuple(rows))


def _late_rows(table: pa.Table, source: DataSourceConfig) -> _Finding:
    """Late events, judged by when the row arrived, not by its event time."""
    n = table.num_rows
    if source.allowed_lateness_s is None or not n:
        return _Finding("late", ())
    lateness = pc.subtract(table[ARRIVAL_TIME], table[source.timestamp])
    late = _mask(pc.greater(lateness, pa.scalar(int(source.allowed_lateness_s * 1_000_000), pa.duration("us"))))
    count = int(late.sum())
    policy = source.late_policy or "quarantine"
    result = RuleResult("late", source.timestamp, "pass" if not count else "warn", count, policy if count else "none",
                        f"{_pct(count, n)} arrived more than {source.allowed_lateness_s:g}s after their event time",
                        _examples(table, late))
    if policy == "reprocess" or not count:
        return _Finding("late", (result,))  # kept: a reprocess recomputes the windows they fall in
    return _Finding("late", (result,), ((f"late:{source.timestamp}", late),))


# Clock skew tolerated between a device's event time and the platform's arrival time.
FUTURE_TOLERANCE_S = 60


def _future_rows(table: pa.Table, source: DataSourceConfig) -> _Finding:
    """Events stamped after they arrived: set aside like any other broken row."""
    n = table.num_rows
    ahead = pc.subtract(table[source.timestamp], table[ARRIVAL_TIME])
    future = _mask(pc.greater(ahead, pa.scalar(FUTURE_TOLERANCE_S * 1_000_000, pa.duration("us")))) if n else np.zeros(0, bool)
    count = int(future.sum())
    result = RuleResult("future", source.timestamp, _row_status(count, source), count,
                        source.quarantine_action if count else "none",
                        f"{_pct(count, n)} have an event time more than {FUTURE_TOLERANCE_S}s after their arrival",
                        _examples(table, future))
    return _Finding("bad", (result,), ((f"future:{source.timestamp}", future),) if count else ())


def _duplicate_rows(table: pa.Table, source: DataSourceConfig) -> _Finding:
    """Copies of an _event_id seen earlier: the first arrival is kept."""
    n = table.num_rows
    # Ids are dictionary-encoded (hashing, linear) instead of sorted as strings.
    rank = np.empty(n, dtype=np.int64)
    rank[pc.sort_indices(table[ARRIVAL_TIME]).to_numpy()] = np.arange(n)  # stable: ties keep file order
    codes = pc.dictionary_encode(table[EVENT_ID]).combine_chunks().indices.to_numpy(zero_copy_only=False)
    first = np.full(int(codes.max()) + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(first, codes, rank)
    dup = rank != first[codes]
    count = int(dup.sum())
    ok = n == 0 or count / n <= source.max_duplicate_fraction
    result = RuleResult("duplicate_fraction", EVENT_ID, "pass" if ok else "fail", count,
                        ("drop" if source.quarantine_action == "drop" else "quarantine") if count else "none",
                        f"{_pct(count, n)} repeat an earlier _event_id; limit {source.max_duplicate_fraction:.2%}",
                        _examples(table, dup))
    return _Finding("duplicate", (result,), ((f"duplicate:{EVENT_ID}", dup),) if count else ())


def _bad_fraction(table: pa.Table, source: DataSourceConfig, bad: np.ndarray) -> RuleResult:
    n, bad_n = table.num_rows, int(bad.sum())
    if source.quarantine_action == "fail":
        ok = bad_n == 0
        return RuleResult("quarantine", None, "pass" if ok else "fail", bad_n, "none" if ok else "fail",
                          f"{_pct(bad_n, n)} break the contract and the quarantine action is 'fail'")
    ok = n == 0 or bad_n / n <= source.max_bad_fraction
    return RuleResult("bad_fraction", None, "pass" if ok else "fail", bad_n, source.quarantine_action if bad_n else "none",
                      f"{_pct(bad_n, n)} break null/range/category/future rules; limit {source.max_bad_fraction:.2%}",
                      _examples(table, bad))


def _freshness(valid: pa.Table, source: DataSourceConfig, as_of: datetime | None) -> RuleResult | None:
    if source.freshness_max_age_s is None or not valid.num_rows:
        return None
    newest = pc.max(valid[source.timestamp]).as_py()
    now = (as_of or datetime.now(timezone.utc)).astimezone(timezone.utc)
    age = (now - newest).total_seconds()
    status = "pass" if age <= source.freshness_max_age_s else ("fail" if source.freshness_severity == "error" else "warn")
    return RuleResult("freshness", source.timestamp, status, 0, "fail" if status == "fail" else "none",
                      f"newest event {newest.isoformat()} is {age:.0f}s old at {now.isoformat()}; "
                      f"limit {source.freshness_max_age_s:g}s")


def _min_rows(valid: pa.Table, source: DataSourceConfig, as_of: datetime | None) -> RuleResult:
    ok = valid.num_rows >= source.min_rows
    return RuleResult("min_rows", None, "pass" if ok else "fail", valid.num_rows, "none" if ok else "fail",
                      f"{valid.num_rows} valid rows; at least {source.min_rows} required")


# The rules, listed as data: a new rule is one function and one line.
ROW_RULES: tuple[Callable[[pa.Table, DataSourceConfig], _Finding], ...] = (
    _field_rules, _future_rows, _late_rows, _duplicate_rows)
# Checked on the rows that remain valid.
BATCH_RULES: tuple[Callable[[pa.Table, DataSourceConfig, datetime | None], RuleResult | None], ...] = (
    _freshness, _min_rows)


def apply_contract(loaded: LoadedSource, as_of: datetime | None = None) -> ContractOutcome:
    """Check a loaded batch against its contract; split it into valid,
    quarantined and dropped rows.  ``as_of`` is the freshness reference
    (the wall clock when None)."""
    source = loaded.source
    if loaded.table is None:
        results = tuple(RuleResult(p.rule, p.column, "fail", 1, "fail", p.message) for p in loaded.problems)
        return ContractOutcome(source.name, sum(f.rows for f in loaded.files), None, None, 0, results)

    table = loaded.table
    n = table.num_rows
    findings = [rule(table, source) for rule in ROW_RULES]
    taken = {kind: np.zeros(n, dtype=bool) for kind in ("bad", "late", "duplicate")}
    for finding in findings:
        for _, rows in finding.rows:
            taken[finding.kind] |= rows
    results = [*(r for finding in findings for r in finding.results), _bad_fraction(table, source, taken["bad"])]

    removed = taken["bad"] | taken["late"] | taken["duplicate"]
    # What leaves the batch goes to quarantine unless the contract says drop
    # (bad rows, duplicates) or the late policy says drop (late-only rows);
    # dropped rows are counted, never silent.
    broken = taken["bad"] | taken["duplicate"]
    dropped = (broken & (source.quarantine_action == "drop")) | (taken["late"] & ~broken & (source.late_policy == "drop"))
    into_quarantine = removed & ~dropped
    text = np.full(n, "", dtype=object)
    for label, rows in sorted((label, rows) for f in findings for label, rows in f.rows):
        text[rows] = np.where(text[rows] == "", label, text[rows] + ";" + label)
    quarantined = table.filter(pa.array(into_quarantine)).append_column(
        VIOLATION, pa.array(text[into_quarantine].tolist(), pa.string()))
    valid = table.filter(pa.array(~removed))
    results.extend(r for rule in BATCH_RULES if (r := rule(valid, source, as_of)) is not None)

    passed = all(r.status != "fail" for r in results)
    sort = [(source.entity, "ascending"), (source.timestamp, "ascending"), (EVENT_ID, "ascending")]
    return ContractOutcome(
        source=source.name, rows_in=n, valid=valid.sort_by(sort) if passed else None,
        quarantined=quarantined.sort_by(sort), dropped=int(dropped.sum()), results=tuple(results))


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
    With ``now`` (the arrival time), an event older than the allowed lateness
    is ``late`` and one stamped ahead of it is ``future``, as in batch."""
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
    when = _as_time(record.get(source.timestamp)) if now is not None else None
    if now is not None and when is not None:
        lag = (now.astimezone(timezone.utc) - when).total_seconds()
        if -lag > FUTURE_TOLERANCE_S:
            out.append(Violation("future", source.timestamp,
                                 f"event time is {-lag:.0f}s ahead of the clock (more than {FUTURE_TOLERANCE_S}s of skew)"))
        if source.allowed_lateness_s is not None:
            if lag > source.allowed_lateness_s:
                out.append(Violation("late", source.timestamp,
                                     f"event is {lag:.0f}s old, beyond the allowed lateness of {source.allowed_lateness_s:g}s"))
    return tuple(out)
