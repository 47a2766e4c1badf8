"""Where bundles come from, read with fsspec (a local path, file://, s3://...).

A source is a bundle directory.  A release's model URI (``.../model.onnx``)
names the bundle beside it (``.../edge/``), the layout export-onnx and the
registry write; ``registry:<alias>`` names that alias's version in the
registry at ``artifacts.uri``.  ``peek`` reads only the listing and the two
small signed files, so an unchanged source costs one listing per poll.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from pathlib import Path

from runtime.export.bundle import MANIFEST, SIGNATURE

__all__ = ["BundleSource", "FetchError", "Peek", "fetch", "peek", "registry_source", "release_source"]


class FetchError(Exception):
    """The source cannot be read (unreachable, no bundle there yet)."""


@dataclass(frozen=True)
class BundleSource:
    uri: str  # the bundle directory
    version: str | None  # what the source says it is (release, registry); None: the manifest's
    release_sha256: str | None  # the release the bundle must belong to; None: any (a watched channel)


@dataclass(frozen=True)
class Peek:
    fingerprint: str  # changes whenever any file at the source changes (name, size, mtime, the signed files)
    manifest_sha256: str | None


def _bundle_dir(uri: str) -> str:
    uri = uri.rstrip("/")
    return posixpath.join(posixpath.dirname(uri), "edge") if uri.endswith(".onnx") else uri


def release_source(uri: str, version: str, sha256: str) -> BundleSource:
    return BundleSource(_bundle_dir(uri), version, sha256)


def registry_source(registry_uri: str, model: str, alias: str) -> BundleSource:
    from runtime.registry import Registry, RegistryError

    try:
        entry = Registry(registry_uri).resolve(model, alias)
    except (RegistryError, OSError, ValueError) as exc:
        raise FetchError(f"registry {registry_uri}: {model} {alias}: {exc}") from None
    return BundleSource(posixpath.join(entry.uri, "edge"), entry.version, None)


def _listing(uri: str) -> tuple[object, list[dict[str, object]]]:
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(uri)
        entries = fs.ls(root, detail=True)
    except FileNotFoundError:
        raise FetchError(f"{uri}: no bundle there") from None
    except (OSError, ValueError, ImportError) as exc:
        raise FetchError(f"{uri}: cannot list the bundle: {exc}") from None
    return fs, sorted(entries, key=lambda e: str(e["name"]))


def _read(fs: object, path: str) -> bytes | None:
    try:
        with fs.open(path, "rb") as fh:  # type: ignore[attr-defined]
            return bytes(fh.read())
    except FileNotFoundError:
        return None


def peek(uri: str) -> Peek:
    fs, entries = _listing(uri)
    digest = hashlib.sha256()
    manifest_sha = None
    for e in entries:
        name = posixpath.basename(str(e["name"]).rstrip("/"))
        stamp = e.get("mtime") or e.get("LastModified") or e.get("ETag") or e.get("created") or ""
        digest.update(f"{name}\0{e.get('type')}\0{e.get('size')}\0{stamp}\n".encode())
        if name in (MANIFEST, SIGNATURE):
            try:
                data = _read(fs, str(e["name"]))
            except OSError as exc:
                raise FetchError(f"{uri}: cannot read {name}: {exc}") from None
            if data is not None:
                digest.update(hashlib.sha256(data).digest())
                if name == MANIFEST:
                    manifest_sha = hashlib.sha256(data).hexdigest()
    return Peek(digest.hexdigest(), manifest_sha)


def fetch(uri: str, dest: Path) -> None:
    """Copy every entry at ``uri`` into the empty directory ``dest``.  A
    sub-directory is copied as an (empty) directory so verification sees it
    and refuses the bundle, rather than the fetch silently dropping it."""
    fs, entries = _listing(uri)
    dest.mkdir(parents=True, exist_ok=True)
    for e in entries:
        name = posixpath.basename(str(e["name"]).rstrip("/"))
        if name in ("", ".", ".."):
            continue
        if e.get("type") == "directory":
            (dest / name).mkdir(exist_ok=True)
            continue
        try:
            data = _read(fs, str(e["name"]))
        except OSError as exc:
            raise FetchError(f"{uri}: cannot read {name}: {exc}") from None
        if data is None:
            raise FetchError(f"{uri}: {name} vanished while fetching (a publish in progress?)")
        (dest / name).write_bytes(data)
