"""``python -m runtime publish --stream-config INGEST.json (--generate [--generator GEN.json] | --events FILE...)``

Replays events onto the stream that an ingest config consumes: the seeded
generator's events (``runtime.data.generator.iter_events``) or event files
(Parquet), in arrival order, with ``Nats-Msg-Id`` = event id.  The same
records the file path reads, so the stream and the file replay feed the
online store identically.

Exit status: 0 published, 1 NATS refused or was unreachable, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import sys
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path

from pydantic import ValidationError

from runtime.contracts.steps import GeneratorConfig, IngestConfig
from runtime.events import ARRIVAL_TIME
from runtime.stream.jetstream import connect_options, ensure_stream
from runtime.stream.publisher import PublishResult, publish_events

__all__ = ["run_args"]


class _BadArgs(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m runtime publish", description=__doc__.split("\n\n")[1])
    p.add_argument("--stream-config", type=Path, required=True,
                   help="the ingest config whose stream to publish to (generated/runtime/ingest-<source>/ingest.json)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--generate", action="store_true", help="publish the embedded generator's events")
    what.add_argument("--events", nargs="+", help="Parquet event files or globs")
    p.add_argument("--generator", type=Path, help="a GeneratorConfig JSON file (default: the generator's defaults)")
    p.add_argument("--limit", type=int, help="publish at most this many events")
    return p


def _load(model: type, path: Path):  # type: ignore[no-untyped-def]
    try:
        return model.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise _BadArgs(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise _BadArgs(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise _BadArgs(f"{path}: invalid {model.__name__}: {problems}") from None


def _file_events(patterns: Sequence[str]) -> Iterator[dict[str, object]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = sorted({p for pattern in patterns for p in (glob.glob(pattern) or [pattern])})
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise _BadArgs(f"no such event file: {', '.join(missing)}")
    table = pa.concat_tables([pq.read_table(p) for p in paths], promote_options="permissive")
    if ARRIVAL_TIME in table.column_names:  # replay in arrival order, as the stream would have carried them
        table = table.sort_by([(ARRIVAL_TIME, "ascending")])
    for batch in table.to_batches(max_chunksize=10_000):
        yield from batch.to_pylist()


async def _publish(config: IngestConfig, events: Iterator[dict[str, object]]) -> PublishResult:
    import nats

    assert config.source.stream_url is not None
    options = connect_options(config.source.stream_url, name=f"specops-publish-{config.source.name}")
    options.update(allow_reconnect=False)
    nc = await nats.connect(**options)
    try:
        js = nc.jetstream()
        await ensure_stream(js, config.source)
        return await publish_events(js, config.source, events)
    finally:
        await nc.close()  # every publish was acked above; nothing left to flush


def run_args(argv: Sequence[str]) -> int:
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as exc:
        return 2 if exc.code else 0
    try:
        config = _load(IngestConfig, args.stream_config)
        if args.generate:
            from runtime.data.generator import iter_events

            gen = _load(GeneratorConfig, args.generator) if args.generator else GeneratorConfig()
            events: Iterator[dict[str, object]] = iter_events(gen)
        else:
            if args.generator:
                raise _BadArgs("--generator goes with --generate, not --events")
            events = _file_events(args.events)
        if args.limit is not None:
            events = islice(events, max(args.limit, 0))
        result = asyncio.run(_publish(config, events))
    except _BadArgs as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # NATS unreachable or JetStream refused: one line, no traceback
        print(f"error: publishing to {config.source.stream_url} ({config.source.subject}) failed: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"published {result.published} event(s) to {config.source.subject} "
          f"({result.duplicates} duplicate(s) dropped by JetStream)")
    return 0
