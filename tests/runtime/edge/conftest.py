"""Two real releases with signed edge bundles (trained and exported once per
session; tests copy them) and the trusted public key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from edge_bundles import Release, build_release, private_key_file, public_key_file


@dataclass(frozen=True)
class Releases:
    v1: Release
    v2: Release
    key: Ed25519PrivateKey
    trusted: Path  # the public key file the runner is configured with


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Releases:
    root = tmp_path_factory.mktemp("edge-releases")
    key = Ed25519PrivateKey.generate()
    key_file = private_key_file(root / "signing.pem", key)
    v1 = build_release(root / "v1", "1.0.0", key_file, trees=40)
    v2 = build_release(root / "v2", "2.0.0", key_file, trees=90)
    assert v1.sha256 != v2.sha256
    return Releases(v1, v2, key, public_key_file(root / "trusted.pub", key))
