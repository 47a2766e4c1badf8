"""The signed edge bundle, and the check the edge runner runs before loading it.

```
<bundle>/model.onnx       the calibrated graph (runtime.export.convert)
<bundle>/features.json    feature order, types and category vocabularies
<bundle>/thresholds.json  the decision threshold and how it was chosen
<bundle>/golden.json      golden inputs and their scores (runtime.export.golden)
<bundle>/manifest.json    sha256 of every file above, spec hash, lineage (release_sha256: the
                          release's cloud model), key id
<bundle>/manifest.sig     Ed25519 signature of manifest.json's exact bytes
```
``verify_bundle`` checks the signature with a public key the *caller*
trusts (never one read from the bundle), then every file's sha256, and
refuses files the manifest does not list.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from runtime.export.signing import SigningKey, key_id, public_bytes

__all__ = ["MANIFEST", "SIGNATURE", "BundleError", "VerifiedBundle", "verify_bundle", "write_bundle"]

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
BUNDLE_FORMAT = "specops.dev/edge-bundle/v1"


class BundleError(Exception):
    """The bundle is incomplete, altered or signed by an untrusted key.

    ``reason`` is a bounded code (``runtime.contracts.metrics.EDGE_REJECTION_REASONS``)
    for metrics and incidents; the message is for humans."""

    def __init__(self, message: str, reason: str = "invalid_manifest") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedBundle:
    path: Path
    manifest: dict[str, Any]

    def file(self, name: str) -> Path:
        return self.path / name


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_bundle(out: Path, files: dict[str, bytes], meta: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """Write the files, the manifest and its signature; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.iterdir():
        if stale.is_file() and stale.name not in files and stale.name not in (MANIFEST, SIGNATURE):
            stale.unlink()
    for name, data in sorted(files.items()):
        (out / name).write_bytes(data)
    manifest = {
        "format": BUNDLE_FORMAT,
        **meta,
        "files": {name: {"sha256": _sha256(data), "bytes": len(data)} for name, data in sorted(files.items())},
        "key": {"algorithm": "ed25519", "id": key_id(key.public), "kind": key.kind,
                "public_key": public_bytes(key.public).hex()},
    }
    body = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    (out / MANIFEST).write_bytes(body)
    (out / SIGNATURE).write_bytes(key.private.sign(body))
    return manifest


def verify_bundle(path: Path, trusted: Ed25519PublicKey, *, allow_throwaway: bool = False) -> VerifiedBundle:
    try:
        body = (path / MANIFEST).read_bytes()
        signature = (path / SIGNATURE).read_bytes()
    except OSError as exc:
        reason = "unsigned" if exc.filename is not None and Path(exc.filename).name == SIGNATURE else "incomplete"
        raise BundleError(f"{path}: incomplete bundle: {exc.filename}: {exc.strerror}", reason) from None
    try:
        trusted.verify(signature, body)
    except InvalidSignature:
        raise BundleError(f"{path / MANIFEST}: signature does not verify with the trusted key "
                          f"{key_id(trusted)}: altered manifest or untrusted signer", "bad_signature") from None
    try:
        manifest = json.loads(body)
        kind = manifest["key"]["kind"]
        listed = {str(name): str(entry["sha256"]) for name, entry in manifest["files"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # Signed but unreadable: a signer bug, never served.
        raise BundleError(f"{path / MANIFEST}: signed but malformed manifest ({exc!r})") from None
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path / MANIFEST}: unknown bundle format {manifest.get('format')!r}")
    if kind == "throwaway" and not allow_throwaway:
        raise BundleError(f"{path}: signed with a throwaway key (a local build); refused outside local runs",
                          "throwaway_key")
    # Directories and links count as files here: nothing unlisted may ride along.
    present = {p.name for p in path.iterdir()} - {MANIFEST, SIGNATURE}
    extra = sorted(present - set(listed))
    if extra:
        raise BundleError(f"{path}: files not in the signed manifest: {', '.join(extra)}", "unlisted_file")
    for name, expected in sorted(listed.items()):
        if "/" in name or name in ("", ".", ".."):
            raise BundleError(f"{path / MANIFEST}: file name {name!r} is not a plain name")
        try:
            data = (path / name).read_bytes()
        except OSError:
            raise BundleError(f"{path / name}: listed in the manifest but missing", "incomplete") from None
        if _sha256(data) != expected:
            raise BundleError(f"{path / name}: sha256 {_sha256(data)} does not match the manifest ({expected}): "
                              "the file was altered after signing", "checksum_mismatch")
    return VerifiedBundle(path, manifest)
