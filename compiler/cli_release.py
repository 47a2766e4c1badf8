"""`specops release propose|approve`: promotion records, edited in git.

Every edit is linted with the whole spec tree before it is written: a record
the compiler would refuse is never put on disk.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

from compiler.load import SourceFile, read_sources
from compiler.lint import lint_sources
from compiler.release_records import ApprovalRecord, ReleaseEditError, add_approval, proposal_target
from compiler.cli_review import audit_release_approval
from compiler.render import RENDERERS

__all__ = ["release_app"]

release_app = typer.Typer(help="Propose and approve ModelRelease records (promotion goes through git).",
                          no_args_is_help=True)

SpecsOpt = Annotated[Path, typer.Option("--specs", help="The spec folder (its sibling policies/ is read too).")]


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"release: {message}", err=True)
    raise typer.Exit(code)


def _lint_with(specs: Path, replaced: dict[str, bytes]) -> None:
    """Lint the spec tree as it is and as it would be after the edit; refuse
    an edit that adds an error.  (An approval that is one of two still needed
    leaves the release's SO443 standing: that is progress, not a new error.)"""
    roots = [specs] + ([specs.parent / "policies"] if (specs.parent / "policies").is_dir() else [])
    files, problems = read_sources(roots)
    before = lint_sources(files, problems)
    by_path = {f.path: f for f in files}
    for path, data in replaced.items():
        by_path[path] = SourceFile(path, data)
    after = lint_sources(tuple(by_path[p] for p in sorted(by_path)), problems)

    # By code and file, counted: the edit moves lines, so line numbers cannot say "the same error".
    def errors(result) -> Counter[tuple[str, str]]:
        return Counter((d.code, d.location.file) for d in result.diagnostics if d.is_error)

    added = errors(after) - errors(before)
    if added:
        shown = [d for d in after.diagnostics if d.is_error and (d.code, d.location.file) in added]
        sys.stderr.write(RENDERERS["text"](tuple(shown), after.loaded.source_lines(),
                                           {"files": len(after.loaded.files), "resources": len(after.spec.nodes)}))
        _fail("the specs would not lint after this edit; nothing was written")


@release_app.command()
def propose(
    proposal: Annotated[Optional[Path], typer.Argument(help="The proposal the pipeline wrote (default: the newest under .specops/work/*/release/).", show_default=False)] = None,
    specs: SpecsOpt = Path("specs"),
    releases_dir: Annotated[Optional[Path], typer.Option("--to", help="Where release records live (default: SPECS/releases).")] = None,
) -> None:
    """Put the pipeline's ModelRelease proposal into the specs, ready to commit on a branch."""
    if proposal is None:
        found = sorted(Path(".specops/work").glob("*/release/*.yaml"), key=lambda p: (p.stat().st_mtime, str(p)))
        if not found:
            _fail("no proposal found under .specops/work/*/release/: run `specops run` first", 2)
        proposal = found[-1]
    try:
        text = proposal.read_text(encoding="utf-8")
        _, name = proposal_target(text, str(proposal))
    except OSError as exc:
        _fail(f"{proposal}: cannot read: {exc.strerror}", 2)
    except ReleaseEditError as exc:
        _fail(str(exc), 2)
    target = (releases_dir or specs / "releases") / name
    if target.exists():
        if target.read_text(encoding="utf-8") == text:
            typer.echo(f"release: {target} already holds this proposal")
            return
        _fail(f"{target} exists with different content; a release version is immutable: bump the version", 1)
    display = target.as_posix()
    _lint_with(specs, {display: text.encode("utf-8")})
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    typer.echo(f"release: wrote {display}\nnext: git switch -c release/{target.stem} && git add {display} && "
               f"git commit -m 'Propose {target.stem}', open a pull request, and ask the approvers the plan names "
               f"(`specops plan --base main`)")


@release_app.command()
def approve(
    release: Annotated[str, typer.Argument(help="The ModelRelease name (metadata.name), e.g. pump-failure-1-4-0.")],
    approver: Annotated[str, typer.Option("--approver", help="Your e-mail address.")],
    role: Annotated[str, typer.Option("--role", help="The role you approve as (one a risk policy names, e.g. ml-lead).")],
    reason: Annotated[str, typer.Option("--reason", help="What you reviewed.")],
    on: Annotated[Optional[str], typer.Option("--date", help="YYYY-MM-DD (default: today).")] = None,
    specs: SpecsOpt = Path("specs"),
) -> None:
    """Sign off a release: append your approval to its record (then commit it to the pull request)."""
    try:
        when = date.fromisoformat(on) if on else date.today()
    except ValueError:
        _fail(f"--date {on!r} is not YYYY-MM-DD", 2)
    record = ApprovalRecord(approver, role, when, reason)
    if record.problems():
        _fail("; ".join(record.problems()), 2)
    files, _ = read_sources([specs])
    holders = [f for f in files if release.encode() in f.data]
    edited: dict[str, bytes] = {}
    errors: list[str] = []
    for source in holders:
        try:
            edited[source.path] = add_approval(source.data.decode("utf-8"), source.path, release, record).encode()
        except ReleaseEditError as exc:
            errors.append(str(exc))
    if not edited:
        already = [e for e in errors if "already approved" in e]
        _fail(already[0] if already else f"no ModelRelease named {release!r} under {specs}/"
              + ("" if not errors else f" ({'; '.join(errors)})"))
    if len(edited) > 1:
        _fail(f"ModelRelease {release!r} is defined in several files: {', '.join(sorted(edited))}")
    _lint_with(specs, edited)
    ((path, data),) = edited.items()
    Path(path).write_bytes(data)
    typer.echo(f"release: {approver} approved {release} as {role} in {path}")
    try:
        typer.echo(audit_release_approval(specs.parent / "generated", release, approver, role, reason,
                                          when.isoformat(), path))
    except RuntimeError as exc:
        _fail(str(exc))
