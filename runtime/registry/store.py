"""Versions and aliases on an fsspec filesystem.

A version is immutable: registering the same model bytes again returns the
existing version (idempotent reruns); different bytes get the next version.
Aliases live in one small JSON file per model, rewritten whole."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import fsspec
from pydantic import BaseModel, ConfigDict

from runtime.digest import sha256_file

__all__ = ["ALIASES", "Alias", "Registry", "RegistryEntry", "RegistryError"]

Alias = Literal["candidate", "champion", "previous", "edge"]
ALIASES: tuple[str, ...] = Alias.__args__  # type: ignore[attr-defined]


class RegistryError(Exception):
    """The registry cannot do what was asked; the message says why."""


class RegistryEntry(BaseModel):
    """What the register step outputs and the release proposal reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    version: str
    uri: str  # the version's folder
    model_uri: str  # the ONNX model the predictor serves
    sha256: str  # of the ONNX model
    size_bytes: int
    files: dict[str, str]  # relative path -> sha256
    card: dict[str, object]


def _version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (-1,)


class Registry:
    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.uri)

    def _model_dir(self, model: str) -> str:
        return posixpath.join(self.root, "models", model)

    def versions(self, model: str) -> list[str]:
        base = posixpath.join(self._model_dir(model), "versions")
        if not self.fs.exists(base):
            return []
        names = [posixpath.basename(p.rstrip("/")) for p in self.fs.ls(base, detail=False)]
        return sorted((n for n in names if not n.endswith(".partial")), key=_version_key)

    def entry(self, model: str, version: str) -> RegistryEntry:
        path = posixpath.join(self._model_dir(model), "versions", version, "entry.json")
        if not self.fs.exists(path):
            raise RegistryError(f"{model} {version} is not in the registry at {self.uri}")
        with self.fs.open(path, "r") as fh:
            return RegistryEntry.model_validate_json(fh.read())

    def version_for(self, model: str, sha256: str) -> str:
        """The version these model bytes have, or would get if registered now."""
        versions = self.versions(model)
        for version in versions:
            if self.entry(model, version).sha256 == sha256:
                return version
        last = _version_key(versions[-1]) if versions else (0, 0, 0)
        return f"{last[0]}.{last[1] + 1}.0" if len(last) == 3 else "0.1.0"

    def register(self, model: str, files: Mapping[str, Path], model_file: str, card: Mapping[str, object]) -> RegistryEntry:
        """Store ``files`` (relative name -> local path) as a new version, or
        return the version that already holds the same ONNX model."""
        if model_file not in files:
            raise RegistryError(f"the model file {model_file!r} is not among the files to register")
        hashes = {name: sha256_file(path) for name, path in sorted(files.items())}
        version = self.version_for(model, hashes[model_file])
        if version in self.versions(model):
            return self.entry(model, version)
        folder = posixpath.join(self._model_dir(model), "versions", version)
        staging = folder + ".partial"
        if self.fs.exists(staging):  # left by a crashed run: never trusted, rewritten
            self.fs.rm(staging, recursive=True)
        # Write everything under a temporary name first: a crash leaves a
        # ".partial" folder, never a half-written version.
        for name, path in sorted(files.items()):
            target = posixpath.join(staging, name)
            self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
            self.fs.put_file(str(path), target)
        shown = self.uri + "/models/" + model + "/versions/" + version
        entry = RegistryEntry(model=model, version=version, uri=shown, model_uri=f"{shown}/{model_file}",
                              sha256=hashes[model_file], size_bytes=Path(files[model_file]).stat().st_size,
                              files=hashes, card=dict(card))
        with self.fs.open(posixpath.join(staging, "entry.json"), "w") as fh:
            fh.write(entry.model_dump_json(indent=2))
        self.fs.mv(staging, folder, recursive=True)
        return entry

    def aliases(self, model: str) -> dict[str, str]:
        path = posixpath.join(self._model_dir(model), "aliases.json")
        if not self.fs.exists(path):
            return {}
        with self.fs.open(path, "r") as fh:
            return json.load(fh)

    def set_alias(self, model: str, alias: str, version: str) -> dict[str, str]:
        """Point ``alias`` at ``version``.  Moving ``champion`` keeps the old
        one as ``previous`` (what a rollback goes back to)."""
        if alias not in ALIASES:
            raise RegistryError(f"unknown alias {alias!r}; aliases are {', '.join(ALIASES)}")
        self.entry(model, version)  # must exist
        current = self.aliases(model)
        if alias == "champion" and current.get("champion") not in (None, version):
            current["previous"] = current["champion"]
        current[alias] = version
        path = posixpath.join(self._model_dir(model), "aliases.json")
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        with self.fs.open(path, "w") as fh:
            json.dump(dict(sorted(current.items())), fh, indent=2)
        return current

    def resolve(self, model: str, alias_or_version: str) -> RegistryEntry:
        version = self.aliases(model).get(alias_or_version, alias_or_version)
        return self.entry(model, version)
