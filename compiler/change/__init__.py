"""`specops plan`: what a pull request changes (generated resources), what it
means (a semantic diff of the typed specs) and who must approve it.

revision (git, read-only) -> two CompileResults -> build_change_plan ->
ChangePlan -> a renderer from FORMATS (text, json, markdown)."""

from compiler.change.build import build_change_plan
from compiler.change.model import ApprovalCheck, ChangePlan, FieldChange, ResourceChange, SideReport, SpecChange
from compiler.change.render import FORMATS

__all__ = [
    "FORMATS",
    "ApprovalCheck",
    "ChangePlan",
    "FieldChange",
    "ResourceChange",
    "SideReport",
    "SpecChange",
    "build_change_plan",
]
