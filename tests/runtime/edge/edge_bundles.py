"""Real signed edge bundles for the edge runner tests, and the ways a bundle
goes bad (a plain module: ``conftest`` is ambiguous across test folders).

Bundles come from the real train and export-onnx steps on the synthetic
table; "bad" bundles are real bundles altered the way an attacker, a broken
disk or a buggy signer would."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))

from train_steps import export_config, run_step, train_config  # noqa: E402
from train_synthetic import write_table  # noqa: E402

from runtime.export.bundle import MANIFEST, SIGNATURE, write_bundle  # noqa: E402
from runtime.export.signing import SigningKey, public_bytes  # noqa: E402

__all__ = ["Release", "build_release", "edge_config", "private_key_file", "resign", "retamper", "write_config"]


@dataclass(frozen=True)
class Release:
    version: str
    root: Path  # holds model.onnx (the release artifact) and edge/ (the bundle)
    sha256: str  # of model.onnx: what a ModelRelease pins

    @property
    def model_uri(self) -> str:
        return str(self.root / "model.onnx")

    @property
    def bundle(self) -> Path:
        return self.root / "edge"


def private_key_file(path: Path, key: Ed25519PrivateKey) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def build_release(work: Path, version: str, key_file: Path, trees: int) -> Release:
    """Train (``trees`` boosting rounds: a different model per count) and export a signed bundle."""
    work.mkdir(parents=True, exist_ok=True)
    write_table(work / "features")
    params = {"num_leaves": 15, "learning_rate": 0.1, "n_estimators": trees, "min_child_samples": 20}
    assert run_step(work, "train", train_config(work, baseline=None, params=params, early_stopping_rounds=trees)) == 0
    assert run_step(work, "export-onnx", export_config(work, signing_key_file=str(key_file))) == 0
    onnx = work / "onnx"
    return Release(version, onnx, hashlib.sha256((onnx / "model.onnx").read_bytes()).hexdigest())


def _files(bundle: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in bundle.iterdir() if p.is_file() and p.name not in (MANIFEST, SIGNATURE)}


def resign(bundle: Path, key: Ed25519PrivateKey, *, files: dict[str, bytes] | None = None,
           meta: dict[str, Any] | None = None) -> None:
    """Re-sign ``bundle`` (optionally with changed files or manifest fields) with ``key``."""
    manifest = json.loads((bundle / MANIFEST).read_text())
    base = {k: v for k, v in manifest.items() if k not in ("format", "files", "key")}
    write_bundle(bundle, {**_files(bundle), **(files or {})}, {**base, **(meta or {})}, SigningKey(key, "secret", None))


def retamper(bundle: Path) -> None:
    """Alter model.onnx and recompute its checksum in the manifest, keeping the old signature."""
    model = bytearray((bundle / "model.onnx").read_bytes())
    model[len(model) // 2] ^= 0x01
    (bundle / "model.onnx").write_bytes(bytes(model))
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"]["model.onnx"] = {"sha256": hashlib.sha256(model).hexdigest(), "bytes": len(model)}
    (bundle / MANIFEST).write_bytes((json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def edge_config(work: Path, release: Release, trusted: Path, **over: Any) -> dict[str, Any]:
    return {"api_version": "runtime.specops.dev/v1alpha1", "step": "edge-run", "model": "pump-failure",
            "spec_hash": "ab" * 32, "artifacts": {"uri": str(work / "artifacts")}, "work_dir": str(work),
            "bundle": {"name": f"pump-failure-{release.version.replace('.', '-')}", "version": release.version,
                       "uri": release.model_uri, "sha256": release.sha256},
            "environment": "edge", "trusted_key_file": str(trusted), "host": "127.0.0.1", "port": 0,
            "poll_interval_s": 0.5, **over}


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def public_key_file(path: Path, key: Ed25519PrivateKey) -> Path:
    path.write_text(public_bytes(key.public_key()).hex() + "\n", encoding="utf-8")
    return path


def copy_release(release: Release, dest: Path, version: str | None = None) -> Release:
    shutil.copytree(release.root, dest)
    return Release(version or release.version, dest, release.sha256)
