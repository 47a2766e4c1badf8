"""The writer: writes only what it owns, prunes what it no longer produces,
never touches hand-written files, and --check writes nothing."""

from __future__ import annotations

import json

import pytest

from compiler.emit.artifact import HEADER, Artifact
from compiler.write import UnsafePathError, write


def _art(path: str, text: str) -> Artifact:
    body = (HEADER + text) if path.endswith(".yaml") else text
    return Artifact(path, body.encode(), ("Model/m",), "test")


def _manifest(paths: list[str]) -> Artifact:
    return Artifact("generated/manifest.json", json.dumps({"files": {p: {} for p in paths}}).encode(), (), "index")


def test_create_update_unchanged_and_prune(tmp_path):
    first = [_art("generated/prod/a.yaml", "a: 1\n"), _art("generated/runtime/m/x.json", "{}\n"), _art("dvc.yaml", "stages: {}\n")]
    first.append(_manifest([a.path for a in first]))
    report = write(first, tmp_path, "generated")
    assert set(report.created) == {a.path for a in first}
    (tmp_path / "generated/README.md").write_text("hand-written\n")
    (tmp_path / "generated/prod/notes.yaml").write_text("# mine\nx: 1\n")
    second = [_art("generated/prod/a.yaml", "a: 2\n"), _art("dvc.yaml", "stages: {}\n")]
    second.append(_manifest([a.path for a in second]))
    check = write(second, tmp_path, "generated", check=True)
    assert check.updated == ("generated/prod/a.yaml",) or "generated/prod/a.yaml" in check.updated
    assert check.deleted == ("generated/runtime/m/x.json",)
    assert (tmp_path / "generated/runtime/m/x.json").exists(), "--check writes nothing"
    report = write(second, tmp_path, "generated")
    assert "generated/runtime/m/x.json" in report.deleted
    assert not (tmp_path / "generated/runtime").exists(), "empty folders are removed"
    assert (tmp_path / "generated/README.md").read_text() == "hand-written\n"
    assert (tmp_path / "generated/prod/notes.yaml").exists(), "files without the header are never pruned"
    assert write(second, tmp_path, "generated").up_to_date


def test_header_marked_files_are_pruned_even_without_a_manifest(tmp_path):
    (tmp_path / "generated/prod").mkdir(parents=True)
    (tmp_path / "generated/prod/old.yaml").write_text(HEADER + "x: 1\n")
    report = write([_art("generated/prod/new.yaml", "y: 1\n")], tmp_path, "generated")
    assert report.deleted == ("generated/prod/old.yaml",)


@pytest.mark.parametrize("path", ["../evil.yaml", "/etc/passwd", "generated/../../x.yaml"])
def test_unsafe_paths_are_refused(tmp_path, path):
    with pytest.raises(UnsafePathError):
        write([_art(path, "x: 1\n")], tmp_path, "generated")
