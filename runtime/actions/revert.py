"""The ready-to-commit half of a rollback: a patch to specs/releases that
takes the bad version's canary deployment out, so git (and Argo CD) agree
with the traffic the enforcer already moved back.  Never committed here: a
human applies it (``git apply``) and opens the pull request.

Edits are line-based on the YAML text (comments and layout survive); which
lines is found from the YAML node marks, and the result is re-parsed to
check the deployment is really gone.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

__all__ = ["Revert", "RevertError", "canary_revert"]


class RevertError(Exception):
    """No revert can be prepared; the message says why."""


@dataclass(frozen=True, slots=True)
class Revert:
    release: str        # the ModelRelease whose deployment is removed
    file: str           # repository-relative path
    patch: str          # unified diff (a/ b/ prefixes), for `git apply`
    new_text: str


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _value(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _scalar(node: yaml.Node, key: str) -> str | None:
    v = _value(node, key)
    return v.value if isinstance(v, yaml.ScalarNode) else None


def _remove(lines: list[str], seq: yaml.SequenceNode, item: yaml.Node) -> list[str]:
    if seq.flow_style:
        raise RevertError("the deployments list is written in flow style ([...]); edit it by hand")
    start = item.start_mark.line  # marks count lines of the whole file
    dash = lines[start].find("-")
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > dash):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # keep the blank lines that separate what follows
    out = lines[:start] + lines[end:]
    if len(seq.value) == 1:  # the list is now empty: say so, or the key would read as null
        key_line = next((i for i in range(start - 1, -1, -1) if out[i].rstrip().endswith("deployments:")), None)
        if key_line is None:
            raise RevertError("cannot find the 'deployments:' key above the canary deployment; edit it by hand")
        out[key_line] = out[key_line].rstrip() + " []\n"
    return out


def canary_revert(files: Mapping[str, str], model: str, environment: str, version: str | None = None) -> Revert:
    """The patch removing ``model``'s canary deployment in ``environment``
    (of ``version``, when given) from the release files (path -> text)."""
    for path in sorted(files):
        text = files[path]
        lines = text.splitlines(keepends=True)
        for doc in yaml.compose_all(text):
            if doc is None:
                continue
            spec = _value(doc, "spec")
            found = None
            if _scalar(doc, "kind") == "ModelRelease" and spec is not None and _scalar(spec, "model") == model \
                    and (version is None or _scalar(spec, "version") == version):
                seq = _value(spec, "deployments")
                if isinstance(seq, yaml.SequenceNode):
                    found = next((item for item in seq.value if _scalar(item, "environment") == environment
                                  and _scalar(item, "role") == "canary"), None)
            if found is not None:
                assert isinstance(seq, yaml.SequenceNode)
                new_lines = _remove(lines, seq, found)
                new_text = "".join(new_lines)
                _check(new_text, model, environment, version)
                name = _scalar(_value(doc, "metadata") or doc, "name") or "?"
                patch = "".join(difflib.unified_diff(lines, new_lines, f"a/{path}", f"b/{path}"))
                return Revert(name, path, patch, new_text)
    what = f"{model} {version}" if version else model
    raise RevertError(f"no ModelRelease of {what} has a canary deployment in {environment} under the release files "
                      f"({', '.join(sorted(files)) or 'none found'}); nothing to revert in git")


def _check(text: str, model: str, environment: str, version: str | None) -> None:
    try:
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except yaml.YAMLError as exc:  # pragma: no cover - a bug in the line edit, never the user's
        raise RevertError(f"the reverted release file would not parse: {exc}") from None
    for d in docs:
        spec = d.get("spec") or {}
        if d.get("kind") == "ModelRelease" and spec.get("model") == model and (version is None or str(spec.get("version")) == version):
            if any(dep.get("environment") == environment and dep.get("role") == "canary"
                   for dep in spec.get("deployments") or ()):
                raise RevertError("the canary deployment is still there after the edit")  # pragma: no cover
