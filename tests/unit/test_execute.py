"""`specops run`'s executor: real DVC reproductions in a scratch repository."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from compiler.execute import PipelineError, run_pipeline

PIPELINE = textwrap.dedent("""\
    stages:
      raw:
        cmd: python -c "import pathlib; pathlib.Path('raw.txt').write_text(pathlib.Path('param.txt').read_text())"
        deps: [param.txt]
        outs: [raw.txt]
      double:
        cmd: python -c "import pathlib; pathlib.Path('double.txt').write_text(pathlib.Path('raw.txt').read_text() * 2)"
        deps: [raw.txt]
        outs: [double.txt]
      side:
        cmd: python -c "import pathlib; pathlib.Path('side.txt').write_text(pathlib.Path('other.txt').read_text())"
        deps: [other.txt]
        outs: [side.txt]
      gate:
        cmd: python -c "import pathlib, sys; sys.exit(1 if 'bad' in pathlib.Path('double.txt').read_text() else 0)"
        deps: [double.txt]
""")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "dvc.yaml").write_text(PIPELINE, encoding="utf-8")
    (tmp_path / "param.txt").write_text("a", encoding="utf-8")
    (tmp_path / "other.txt").write_text("o", encoding="utf-8")
    return tmp_path


def statuses(report) -> dict[str, str]:
    return {s.name: s.status for s in report.stages}


def test_first_run_runs_every_stage_in_dependency_order(repo: Path) -> None:
    report = run_pipeline(repo)
    assert report.ok and not report.cache_hit
    names = [s.name for s in report.stages]
    assert set(names) == {"raw", "double", "side", "gate"}
    assert names.index("raw") < names.index("double") < names.index("gate")
    assert set(statuses(report).values()) == {"ran"}
    assert (repo / "double.txt").read_text() == "aa"
    assert "analytics = false" in (repo / ".dvc" / "config").read_text().lower()


def test_rerun_with_nothing_changed_is_a_cache_hit(repo: Path) -> None:
    run_pipeline(repo)
    again = run_pipeline(repo)
    assert again.ok and again.cache_hit, statuses(again)


def test_a_change_reruns_only_what_depends_on_it(repo: Path) -> None:
    run_pipeline(repo)
    (repo / "param.txt").write_text("b", encoding="utf-8")
    report = run_pipeline(repo)
    assert statuses(report) == {"raw": "ran", "double": "ran", "gate": "ran", "side": "cached"}


def test_a_failing_stage_stops_the_pipeline_and_names_itself(repo: Path) -> None:
    (repo / "param.txt").write_text("bad", encoding="utf-8")
    report = run_pipeline(repo)
    assert not report.ok
    assert report.failed is not None and report.failed.name == "gate"
    assert "exited with 1" in report.failed.message
    # the failure is not cached: fixing the input makes the next run pass
    (repo / "param.txt").write_text("ok", encoding="utf-8")
    assert run_pipeline(repo).ok


def test_targets_run_only_what_they_need(repo: Path) -> None:
    report = run_pipeline(repo, targets=("double",))
    assert [s.name for s in report.stages] == ["raw", "double"]


def test_unknown_target_and_missing_pipeline_are_clear_errors(repo: Path, tmp_path_factory) -> None:
    with pytest.raises(PipelineError, match="unknown stage.*nope"):
        run_pipeline(repo, targets=("nope",))
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(PipelineError, match="dvc.yaml not found"):
        run_pipeline(empty)
