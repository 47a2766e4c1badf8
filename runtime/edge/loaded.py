"""A bundle directory -> a servable bundle, or the reason it is refused.

The order is the trust order: the signature over manifest.json with the
trusted key first (``verify_bundle``: then every checksum, no unlisted
file), then the release the manifest names, then the model loads in
onnxruntime and passes the golden-input health check.  Nothing in the
directory is read as trusted before the signature verifies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from runtime.edge.health import HealthReport, check_health
from runtime.export.bundle import MANIFEST, BundleError, verify_bundle
from runtime.export.golden import GOLDEN, GoldenError, read_golden
from runtime.serving.scoring import ModelFileError, OnnxScorer

__all__ = ["BundleRejected", "CheckPolicy", "LoadedBundle", "load_bundle"]


class BundleRejected(Exception):
    """The bundle must not serve; ``reason`` is one of EDGE_REJECTION_REASONS."""

    def __init__(self, reason: str, message: str, evidence: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.evidence = dict(evidence or {})


@dataclass(frozen=True)
class CheckPolicy:
    """What a bundle is checked against (from the config, never the bundle)."""

    trusted: Ed25519PublicKey
    allow_throwaway: bool
    tolerance: float
    max_latency_ms: float | None  # None: the budget golden.json records


@dataclass(frozen=True)
class LoadedBundle:
    path: Path
    manifest: Mapping[str, Any]
    manifest_sha256: str
    version: str
    scorer: OnnxScorer = field(repr=False)
    health: HealthReport

    @property
    def release_sha256(self) -> str | None:
        value = self.manifest.get("release_sha256")
        return str(value) if value is not None else None


def load_bundle(path: Path, policy: CheckPolicy, *, version: str | None = None,
                release_sha256: str | None = None) -> LoadedBundle:
    """Verify and health-check the bundle at ``path``.  ``release_sha256``:
    the release the bundle must belong to (the configured one), if known."""
    try:
        verified = verify_bundle(path, policy.trusted, allow_throwaway=policy.allow_throwaway)
    except BundleError as exc:
        raise BundleRejected(exc.reason, str(exc)) from None
    manifest = verified.manifest
    manifest_sha = hashlib.sha256((path / MANIFEST).read_bytes()).hexdigest()
    if release_sha256 is not None and manifest.get("release_sha256") != release_sha256:
        raise BundleRejected("wrong_release", f"{path}: the bundle belongs to the model with sha256 "
                             f"{manifest.get('release_sha256')}, not to the configured release's {release_sha256}",
                             {"manifest_sha256": manifest_sha})
    name = version or str(manifest.get("version") or f"sha256-{manifest_sha[:12]}")
    try:
        scorer = OnnxScorer(path / "model.onnx", expected_sha256=manifest["files"]["model.onnx"]["sha256"])
        golden = read_golden((path / GOLDEN).read_bytes())
        declared = [f["name"] for f in json.loads((path / "features.json").read_bytes())["features"]]
    except (ModelFileError, GoldenError) as exc:
        raise BundleRejected("unhealthy", f"{path}: {exc}", {"manifest_sha256": manifest_sha}) from None
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise BundleRejected("unhealthy", f"{path}: signed but unusable bundle: {exc!r} (a bundle needs model.onnx, "
                             f"features.json and {GOLDEN}; re-export it with export-onnx)",
                             {"manifest_sha256": manifest_sha}) from None
    if tuple(declared) != scorer.features:
        raise BundleRejected("unhealthy", f"{path}: features.json lists {declared} but the model takes "
                             f"{list(scorer.features)}", {"manifest_sha256": manifest_sha})
    budget = policy.max_latency_ms if policy.max_latency_ms is not None else golden.max_latency_ms
    health = check_health(scorer, golden, policy.tolerance, budget)
    if not health.ok:
        raise BundleRejected("unhealthy", f"{path}: health check failed: {health.problem}",
                             {"manifest_sha256": manifest_sha, "health": health.to_json()})
    return LoadedBundle(path, manifest, manifest_sha, name, scorer, health)
