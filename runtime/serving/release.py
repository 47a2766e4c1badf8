"""Which model file a serve config serves, fetched and verified.

In a cluster the config names a ModelRelease from git (URI + sha256); the
local variant names registry aliases instead (``champion``, else
``candidate``), because releases in git point at the production store.
Remote files are copied once into the work directory, keyed by sha256, and
every file is checked against the sha256 its release or registry entry
recorded before a session is created from it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from runtime.contracts.steps import ReleaseRef, ServeConfig

__all__ = ["ReleaseError", "ServedRelease", "resolve_challenger", "resolve_previous", "resolve_releases"]


class ReleaseError(Exception):
    """Nothing servable: no such release file or registry alias."""


@dataclass(frozen=True, slots=True)
class ServedRelease:
    version: str
    release: str  # the ModelRelease name, or "registry:<alias>" locally
    path: Path
    sha256: str


def _local(uri: str) -> Path | None:
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return Path(parts.path if parts.scheme else uri)
    return None


def _fetch(uri: str, sha256: str, cache_dir: Path) -> Path:
    local = _local(uri)
    if local is not None:
        if not local.is_file():
            raise ReleaseError(f"{uri}: the model file does not exist")
        return local
    target = cache_dir / f"{sha256}.onnx"
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
        return target
    import fsspec

    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    try:
        with fsspec.open(uri, "rb") as src, partial.open("wb") as dst:
            dst.write(src.read())
    except (OSError, ValueError, ImportError) as exc:
        raise ReleaseError(f"{uri}: cannot fetch the model: {exc}") from None
    partial.replace(target)
    return target


def _from_ref(ref: ReleaseRef, cache_dir: Path) -> ServedRelease:
    return ServedRelease(ref.version, ref.name, _fetch(ref.uri, ref.sha256, cache_dir), ref.sha256)


def _from_registry(config: ServeConfig, alias: str, cache_dir: Path) -> ServedRelease:
    from runtime.registry import Registry, RegistryError

    try:
        entry = Registry(config.artifacts.uri).resolve(config.model, alias)
    except RegistryError as exc:
        raise ReleaseError(str(exc)) from None
    return ServedRelease(entry.version, f"registry:{alias}", _fetch(entry.model_uri, entry.sha256, cache_dir),
                         entry.sha256)


def resolve_releases(config: ServeConfig) -> tuple[ServedRelease, ServedRelease | None]:
    """(served, shadow or None)."""
    cache_dir = Path(config.work_dir) / "serve" / "models"
    if config.release is not None:
        served = _from_ref(config.release, cache_dir)
        shadow = _from_ref(config.shadow, cache_dir) if config.shadow is not None else None
        return served, shadow
    from runtime.registry import Registry

    aliases = Registry(config.artifacts.uri).aliases(config.model)
    wanted = config.registry_aliases or ()
    chosen = next((a for a in wanted if a in aliases), None)
    if chosen is None:
        raise ReleaseError(f"the registry at {config.artifacts.uri} has no {' or '.join(wanted)} version of "
                           f"{config.model!r}; run `specops run` first to train and register one")
    served = _from_registry(config, chosen, cache_dir)
    shadow_alias = config.registry_shadow_alias
    shadow = None
    if shadow_alias is not None and aliases.get(shadow_alias) not in (None, served.version):
        shadow = _from_registry(config, shadow_alias, cache_dir)
    return served, shadow


def resolve_challenger(config: ServeConfig, served: ServedRelease) -> ServedRelease | None:
    """The in-process canary challenger (``canary.challenger`` from git, or the
    local ``canary.challenger_alias``) when it takes traffic and is another
    version than the one served; None otherwise."""
    canary = config.canary
    if canary is None or canary.percent <= 0:
        return None
    cache_dir = Path(config.work_dir) / "serve" / "models"
    if canary.challenger is not None:
        found = _from_ref(canary.challenger, cache_dir)
    elif canary.challenger_alias is not None:
        from runtime.registry import Registry

        version = Registry(config.artifacts.uri).aliases(config.model).get(canary.challenger_alias)
        if version is None:
            raise ReleaseError(f"--canary: the registry at {config.artifacts.uri} has no {canary.challenger_alias} "
                               f"version of {config.model!r} to serve as the challenger")
        if version == served.version:
            return None
        found = _from_registry(config, canary.challenger_alias, cache_dir)
    else:
        return None
    return None if found.sha256 == served.sha256 else found


def resolve_previous(config: ServeConfig) -> ServedRelease:
    """The release a ``previous_model`` circuit-breaker fallback scores with:
    the breaker's ``previous`` ReleaseRef (cluster) or the registry's
    ``previous`` alias (local).  Refuses to serve without one: a fallback
    that cannot run would be found out only during an outage."""
    breaker = config.breaker
    assert breaker is not None and breaker.fallback == "previous_model"
    cache_dir = Path(config.work_dir) / "serve" / "models"
    if breaker.previous is not None:
        return _from_ref(breaker.previous, cache_dir)
    if breaker.previous_alias is None or config.release is not None:
        raise ReleaseError(f"the circuit breaker of {config.model!r} falls back to the previous model, but this "
                           "revision has no previous release to score with (only a canary replaces one); declare "
                           "another fallback (conservative_rule or human_review) in the ServiceLevel")
    from runtime.registry import Registry

    aliases = Registry(config.artifacts.uri).aliases(config.model)
    if breaker.previous_alias not in aliases:
        raise ReleaseError(f"the circuit breaker of {config.model!r} falls back to the previous model, but the "
                           f"registry at {config.artifacts.uri} has no {breaker.previous_alias!r} version of it; "
                           "register one (promote twice) or declare another fallback in the ServiceLevel")
    return _from_registry(config, breaker.previous_alias, cache_dir)
