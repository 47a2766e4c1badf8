"""Edits of ModelRelease records for ``specops release propose|approve``.

Promotion goes through git: the pipeline writes a proposal, a person commits
it on a branch, reviewers sign it off with ``approve``, and the pull request
is the change.  These are pure text -> text functions (round-trip YAML, so
comments and layout survive); the CLI reads and writes the files and re-lints
the result before writing anything.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

__all__ = ["ApprovalRecord", "ReleaseEditError", "add_approval", "proposal_target"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class ReleaseEditError(ValueError):
    """The edit cannot be made; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    approver: str
    role: str
    date: date
    reason: str

    def problems(self) -> list[str]:
        out = []
        if not _EMAIL.match(self.approver):
            out.append(f"approver {self.approver!r} is not an e-mail address")
        if not _NAME.match(self.role):
            out.append(f"role {self.role!r} is not a lower-case name such as ml-lead")
        if len(self.reason.strip()) < 3:
            out.append("a reason of at least 3 characters is required (what did you review?)")
        return out


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _documents(text: str, where: str) -> list[object]:
    try:
        return list(_yaml().load_all(text))
    except YAMLError as exc:
        raise ReleaseEditError(f"{where}: not valid YAML: {exc}") from None


def add_approval(text: str, where: str, release: str, record: ApprovalRecord) -> str:
    """``text`` with ``record`` appended to the approvals of ModelRelease
    ``release``.  Refuses a second sign-off by the same person."""
    problems = record.problems()
    if problems:
        raise ReleaseEditError("; ".join(problems))
    docs = _documents(text, where)
    target = next((d for d in docs if isinstance(d, CommentedMap) and d.get("kind") == "ModelRelease"
                   and (d.get("metadata") or {}).get("name") == release), None)
    if target is None:
        raise ReleaseEditError(f"{where}: no ModelRelease named {release!r}")
    spec = target.get("spec")
    if not isinstance(spec, CommentedMap):
        raise ReleaseEditError(f"{where}: ModelRelease {release!r} has no spec mapping")
    approvals = spec.get("approvals")
    if approvals is None:
        approvals = CommentedSeq()
        spec["approvals"] = approvals
    if not isinstance(approvals, CommentedSeq):
        raise ReleaseEditError(f"{where}: spec.approvals of {release!r} is not a list")
    for existing in approvals:
        if isinstance(existing, dict) and str(existing.get("approver", "")).lower() == record.approver.lower():
            raise ReleaseEditError(f"{where}: {record.approver} already approved {release!r} "
                                   f"(as {existing.get('role')}); an approval counts once per person")
    entry = CommentedMap([("approver", record.approver), ("role", record.role),
                          ("date", record.date), ("reason", record.reason)])
    # Keep the file's style: one flow mapping per line when the others are.
    if approvals and isinstance(approvals[-1], CommentedMap) and approvals[-1].fa.flow_style():
        entry.fa.set_flow_style()
    approvals.append(entry)
    buffer = io.StringIO()
    _yaml().dump_all(docs, buffer)
    return buffer.getvalue()


def proposal_target(text: str, where: str) -> tuple[str, str]:
    """(model, file name) for a proposal written by the propose-release step."""
    docs = [d for d in _documents(text, where) if d is not None]
    if len(docs) != 1 or not isinstance(docs[0], CommentedMap) or docs[0].get("kind") != "ModelRelease":
        raise ReleaseEditError(f"{where}: a proposal is exactly one ModelRelease document")
    spec = docs[0].get("spec") or {}
    model, version = spec.get("model"), spec.get("version")
    if not (isinstance(model, str) and _NAME.match(model) and isinstance(version, str)
            and re.match(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$", version)):
        raise ReleaseEditError(f"{where}: the proposal needs spec.model (a name) and spec.version")
    return model, f"{model}-{version.replace('.', '-').replace('+', '-')}.yaml"
