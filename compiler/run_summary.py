"""What ``specops run`` prints at the end: every stage, what it produced, and
where to look next.  Reads only the files the stages wrote."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import yaml
from rich.table import Table

from compiler.execute import RunReport

__all__ = ["summarize"]

_STYLE = {"ran": "green", "cached": "cyan", "failed": "bold red", "not run": "dim"}


def _stage_outs(root: Path) -> dict[str, list[str]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc = yaml.load((root / "dvc.yaml").read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
    return {name: [o if isinstance(o, str) else next(iter(o)) for o in stage.get("outs", [])]
            for name, stage in (doc or {}).get("stages", {}).items()}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _gate_rows(root: Path, outs: dict[str, list[str]]) -> Iterator[tuple[str, str, str, str]]:
    """(stage, gate, value, verdict) from any JSON report that lists gates."""
    for stage, paths in sorted(outs.items()):
        for rel in paths:
            path = root / rel
            if not (path.is_file() and path.suffix == ".json"):
                continue
            try:
                report = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            for gate in report.get("gates", []) if isinstance(report, dict) else []:
                if isinstance(gate, dict) and "metric" in gate:
                    value = gate.get("value")
                    shown = f"{value:.4g}" if isinstance(value, (int, float)) else str(value)
                    yield stage, str(gate.get("name", gate["metric"])), shown, "pass" if gate.get("passed") else "FAIL"


def summarize(report: RunReport, root: Path) -> list[object]:
    outs = _stage_outs(root) if (root / "dvc.yaml").is_file() else {}
    stages = Table(title="pipeline", title_justify="left")
    for column in ("stage", "status", "seconds", "outputs"):
        stages.add_column(column, justify="right" if column == "seconds" else "left")
    for run in report.stages:
        produced = ", ".join(f"{p} ({_human(_size(root / p))})" for p in outs.get(run.name, []) if (root / p).exists())
        stages.add_row(run.name, f"[{_STYLE[run.status]}]{run.status}[/]", f"{run.seconds:.1f}", produced or "-")
    out: list[object] = [stages]
    gates = list(_gate_rows(root, outs))
    if gates:
        table = Table(title="gates", title_justify="left")
        for column in ("stage", "gate", "value", "verdict"):
            table.add_column(column)
        for stage, gate, value, verdict in gates:
            table.add_row(stage, gate, value, f"[{'green' if verdict == 'pass' else 'bold red'}]{verdict}[/]")
        out.append(table)
    if report.cache_hit:
        out.append("[cyan]nothing changed: every stage was a cache hit[/]")
    failed = report.failed
    if failed is not None:
        out.append(f"[bold red]stopped at {failed.name}[/]: {failed.message}")
    out.append("next: `dvc status` shows what is stale; `dvc dag` draws the pipeline; reports are in .specops/work/<model>/reports/")
    return out
