"""Stage 8, local only: execute the written DVC pipeline (``specops run``).

The same ``python -m runtime <step>`` commands Argo runs in a cluster run here
as DVC stages, one at a time in dependency order, so a rerun with nothing
changed skips every stage and a change reruns only what depends on it.  This
is the only stage that runs code; it reads the dvc.yaml the writer produced.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import chdir, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal

__all__ = ["PipelineError", "RunReport", "StageRun", "ensure_dvc_repo", "run_pipeline", "stage_order"]

StageStatus = Literal["ran", "cached", "failed", "not run"]


class PipelineError(Exception):
    """The pipeline could not be started (no dvc.yaml, broken DVC repository)."""


@dataclass(frozen=True, slots=True)
class StageRun:
    name: str
    status: StageStatus
    seconds: float
    message: str = ""


@dataclass(frozen=True, slots=True)
class RunReport:
    stages: tuple[StageRun, ...]

    @property
    def ok(self) -> bool:
        return all(s.status in ("ran", "cached") for s in self.stages)

    @property
    def failed(self) -> StageRun | None:
        return next((s for s in self.stages if s.status == "failed"), None)

    @property
    def cache_hit(self) -> bool:
        """Nothing ran: every stage was up to date."""
        return bool(self.stages) and all(s.status == "cached" for s in self.stages)


def ensure_dvc_repo(root: Path) -> None:
    """A clone carries .dvc/ (committed); a scratch folder gets one.  Analytics
    off: the machine may have no network and runs must not phone home."""
    from dvc.repo import Repo

    if (root / ".dvc").is_dir():
        return
    repo = Repo.init(str(root), no_scm=not (root / ".git").exists())
    with repo.config.edit() as conf:
        conf["core"]["analytics"] = False
    repo.close()


@contextmanager
def _runtime_on_path() -> Iterator[None]:
    """Stage commands say ``python -m runtime``: make ``python`` the
    interpreter specops runs in (the project's virtual environment)."""
    saved = {k: os.environ.get(k) for k in ("PATH", "DVC_NO_ANALYTICS")}
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), saved["PATH"] or ""])
    os.environ["DVC_NO_ANALYTICS"] = "1"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def stage_order(repo: object) -> list[str]:
    """Stage names in dependency order, ties broken by name (deterministic)."""
    import networkx as nx

    graph = repo.index.graph  # type: ignore[attr-defined]  # edges point from a stage to what it depends on
    names = {stage: stage.addressing for stage in graph.nodes}
    return [names[s] for s in nx.lexicographical_topological_sort(graph.reverse(copy=True), key=lambda s: names[s])]


def run_pipeline(
    root: Path,
    targets: Sequence[str] = (),
    force: bool = False,
    on_stage: Callable[[int, int, str], None] | None = None,
) -> RunReport:
    """Reproduce every stage (or those ``targets`` need), one at a time, in
    dependency order; stop at the first failure."""
    from dvc.exceptions import DvcException, ReproductionError
    from dvc.repo import Repo

    if not (root / "dvc.yaml").is_file():
        raise PipelineError(f"{root / 'dvc.yaml'} not found: run `specops compile` first")
    ensure_dvc_repo(root)
    # DVC names stages relative to the working directory: run from the root.
    with _runtime_on_path(), chdir(root):
        try:
            repo = Repo(str(root))
        except DvcException as exc:
            raise PipelineError(f"{root}: not a usable DVC repository: {exc}") from None
        with repo:
            order = stage_order(repo)
            wanted = set(order) if not targets else _needed(repo, targets)
            unknown = sorted(set(targets) - set(order))
            if unknown:
                raise PipelineError(f"unknown stage(s): {', '.join(unknown)}; stages are: {', '.join(order)}")
            chosen = [name for name in order if name in wanted]
            runs: list[StageRun] = []
            for index, name in enumerate(chosen):
                if on_stage is not None:
                    on_stage(index, len(chosen), name)
                started = time.perf_counter()
                try:
                    # --force reruns the named stages (all of them when none is named), not their inputs.
                    done = repo.reproduce(name, single_item=True, force=force and (not targets or name in targets))
                except ReproductionError as exc:
                    cause = exc.__cause__ or exc
                    runs.append(StageRun(name, "failed", time.perf_counter() - started, str(cause)))
                    runs.extend(StageRun(rest, "not run", 0.0) for rest in chosen[index + 1:])
                    break
                status: StageStatus = "ran" if done else "cached"
                runs.append(StageRun(name, status, time.perf_counter() - started))
    return RunReport(tuple(runs))


def _needed(repo: object, targets: Sequence[str]) -> set[str]:
    """The targets and everything upstream of them."""
    import networkx as nx

    graph = repo.index.graph  # type: ignore[attr-defined]
    by_name = {stage.addressing: stage for stage in graph.nodes}
    needed: set[str] = set()
    for target in targets:
        if target in by_name:
            needed.add(target)
            needed.update(s.addressing for s in nx.descendants(graph, by_name[target]))
    return needed
