"""The registry: immutable, idempotent versions; aliases with rollback memory;
local directories and fsspec URLs alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.registry import Registry, RegistryError


def files(tmp_path: Path, payload: bytes) -> dict[str, Path]:
    (tmp_path / "m").mkdir(exist_ok=True)
    (tmp_path / "m" / "model.onnx").write_bytes(payload)
    (tmp_path / "m" / "card.json").write_text("{}")
    return {"model.onnx": tmp_path / "m" / "model.onnx", "card.json": tmp_path / "m" / "card.json"}


@pytest.mark.parametrize("scheme", ["local", "memory"])
def test_register_is_idempotent_and_versions_increase(tmp_path: Path, scheme: str) -> None:
    uri = str(tmp_path / "registry") if scheme == "local" else f"memory://reg-{tmp_path.name}"
    registry = Registry(uri)
    first = registry.register("pump", files(tmp_path, b"one"), "model.onnx", {"k": 1})
    again = registry.register("pump", files(tmp_path, b"one"), "model.onnx", {"k": 1})
    second = registry.register("pump", files(tmp_path, b"two"), "model.onnx", {"k": 2})
    assert (first.version, again.version, second.version) == ("0.1.0", "0.1.0", "0.2.0")
    assert registry.versions("pump") == ["0.1.0", "0.2.0"]
    assert registry.entry("pump", "0.2.0").sha256 == second.sha256 != first.sha256
    assert second.model_uri.endswith("/models/pump/versions/0.2.0/model.onnx")


def test_champion_move_keeps_previous_for_rollback(tmp_path: Path) -> None:
    registry = Registry(str(tmp_path / "registry"))
    v1 = registry.register("pump", files(tmp_path, b"one"), "model.onnx", {}).version
    v2 = registry.register("pump", files(tmp_path, b"two"), "model.onnx", {}).version
    registry.set_alias("pump", "champion", v1)
    aliases = registry.set_alias("pump", "champion", v2)
    assert aliases == {"champion": v2, "previous": v1}
    assert registry.resolve("pump", "previous").version == v1
    with pytest.raises(RegistryError, match="unknown alias"):
        registry.set_alias("pump", "prod", v1)
    with pytest.raises(RegistryError, match="not in the registry"):
        registry.set_alias("pump", "edge", "9.9.9")


def test_a_crash_mid_write_leaves_no_half_version(tmp_path: Path) -> None:
    registry = Registry(str(tmp_path / "registry"))
    stale = tmp_path / "registry/models/pump/versions/0.1.0.partial"
    stale.mkdir(parents=True)
    (stale / "model.onnx").write_bytes(b"half")  # what a crash mid-copy leaves
    assert registry.versions("pump") == []
    entry = registry.register("pump", files(tmp_path, b"one"), "model.onnx", {})
    assert entry.version == "0.1.0" and not stale.exists()
    assert (tmp_path / "registry/models/pump/versions/0.1.0/model.onnx").read_bytes() == b"one"
