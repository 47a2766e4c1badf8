"""``python -m runtime generate-data --config FILE``: write the embedded
sample data set (``runtime.data.generator``) into the event and label
sources' locations, as daily files their globs read back.

A DVC stage for local runs only: the Argo workflows read real data.  Exit 0
written; 2 the config cannot be honoured (a declared field the generator
cannot produce, a path outside the working directory, real data in the way).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa

from runtime.contracts.steps import DataSourceConfig, GenerateDataConfig
from runtime.data.generator import EVENT_COLUMNS, LABEL_COLUMNS, generate
from runtime.data.partitions import write_partitioned
from runtime.data.paths import DataPathError
from runtime.data.sources import ARROW_TYPES
from runtime.events import ARRIVAL_TIME, SYSTEM_COLUMNS

__all__ = ["run", "shape"]


def shape(table: pa.Table, source: DataSourceConfig, domain: dict[str, pa.DataType]) -> pa.Table:
    """The generated columns the source declares, in its order and types."""
    unknown = [f.name for f in source.fields if f.name not in domain]
    if unknown:
        raise DataPathError(f"data source {source.name!r} declares {unknown}, which the sample-data generator "
                            f"does not produce (it produces {sorted(domain)})")
    columns = {f.name: table[f.name].cast(ARROW_TYPES[f.type]) for f in source.fields}
    columns.update({c: table[c] for c in SYSTEM_COLUMNS})
    return pa.table(columns)


def run(config: GenerateDataConfig, root: Path | None = None) -> int:
    root = (root or Path.cwd()).resolve()
    data = generate(config.generator)
    try:
        events = write_partitioned(shape(data.events, config.events, EVENT_COLUMNS), config.events, root, ARRIVAL_TIME)
        labels = write_partitioned(shape(data.labels, config.labels, LABEL_COLUMNS), config.labels, root, ARRIVAL_TIME)
    except (DataPathError, pa.ArrowInvalid) as exc:
        print(f"error: generate-data: {exc}", file=sys.stderr)
        return 2
    print(f"generate-data: {data.events.num_rows} events in {len(events)} files under {config.events.path}, "
          f"{data.labels.num_rows} labels ({data.failures} failures) in {len(labels)} files under {config.labels.path}")
    return 0
