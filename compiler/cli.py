"""The `specops` command line.

Exit status: 0 clean (warnings allowed), 1 the specs have errors, 2 usage
or internal error.  Only this module (and a writer) touches the disk.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from compiler.codes import CODES
from compiler.diagnostics import did_you_mean
from compiler.lint import LintResult, lint_paths
from compiler.render import RENDERERS
from compiler.schema import render_schema
from compiler.version import __version__

__all__ = ["app", "main"]

app = typer.Typer(
    name="specops",
    help="SpecOps: lint and compile declarative ML system specs into GitOps artifacts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

from compiler.cli_release import release_app  # noqa: E402  (after app: a sub-command group)

app.add_typer(release_app, name="release")

from compiler.cli_review import audit_app, review_app  # noqa: E402

app.add_typer(review_app, name="review")
app.add_typer(audit_app, name="audit")

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
DEFAULT_SCHEMA_PATH = "docs/reference/specops.schema.json"
DEFAULT_REFERENCE_PATH = "docs/reference/spec-reference.md"


class Format(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


def find_policies(paths: list[Path]) -> Path | None:
    """The `policies/` folder beside the spec tree: searched upwards from the first path."""
    if not paths:
        return None
    start = paths[0].resolve()
    here = start if start.is_dir() else start.parent
    for folder in (here, *here.parents):
        candidate = folder / "policies"
        if candidate.is_dir():
            return candidate
        if (folder / ".git").exists() or (folder / "pyproject.toml").exists():
            break
    return None


def _inputs(paths: list[Path], policies: Optional[str]) -> list[Path]:
    if policies == "none":
        return list(paths)
    folder = Path(policies) if policies else find_policies(paths)
    if folder is None:
        return list(paths)
    if policies and not folder.exists():
        raise typer.BadParameter(f"policies folder '{policies}' does not exist", param_hint="--policies")
    resolved = {p.resolve() for p in paths}
    inside = any(folder.resolve() == p or folder.resolve().is_relative_to(p) for p in resolved if p.is_dir())
    return list(paths) if inside else [*paths, folder]


def _run_lint(paths: list[Path], policies: Optional[str]) -> LintResult:
    return lint_paths(_inputs(paths, policies))


PathsArg = Annotated[list[Path], typer.Argument(help="Spec files or folders (*.yaml, *.yml).", show_default=False)]
PoliciesOpt = Annotated[
    Optional[str],
    typer.Option("--policies", help="Risk policy folder; default: the nearest policies/ above the specs; 'none' to skip."),
]


@app.command()
def lint(
    paths: PathsArg,
    policies: PoliciesOpt = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the report to a file.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    color: Annotated[Optional[bool], typer.Option("--color/--no-color", help="Colour text output.")] = None,
) -> None:
    """Check specs and risk policies; report every problem with its location."""
    result = _run_lint(paths, policies)
    use_color = color if color is not None else (format is Format.text and output is None and sys.stdout.isatty()
                                                  and "NO_COLOR" not in os.environ)
    options = {"color": use_color, "files": len(result.loaded.files), "resources": len(result.spec.nodes)}
    report = RENDERERS[format.value](result.diagnostics, result.loaded.source_lines(), options)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report, encoding="utf-8")
    else:
        sys.stdout.write(report)
    failed = not result.ok or (strict and any(d.severity.value == "warning" for d in result.diagnostics))
    raise typer.Exit(EXIT_ERRORS if failed else EXIT_OK)


@app.command()
def compile(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Spec files or folders (default: specs/).", show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The generated/ folder (its parent is the repository root).")] = Path("generated"),
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if generated files are stale, missing or extra.")] = False,
    policies: PoliciesOpt = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Diagnostics format.")] = Format.text,
) -> None:
    """Compile specs into generated/ (Argo Workflows, KServe, Argo CD, DVC, runtime configs)."""
    _compile_and_write(paths, out, check, policies, format)


def _compile_and_write(paths: Optional[list[Path]], out: Path, check: bool, policies: Optional[str], format: Format) -> Path:
    """Compile and write (or check) generated/; returns the repository root.  Exits on errors."""
    from compiler.compile import compile_sources
    from compiler.load import read_sources
    from compiler.write import write

    spec_paths = list(paths) if paths else [Path("specs")]
    files, problems = read_sources(_inputs(spec_paths, policies))
    result = compile_sources(files, problems)
    if result.diagnostics:
        report = RENDERERS[format.value](result.diagnostics, result.lint.loaded.source_lines(),
                                         {"files": len(result.lint.loaded.files), "resources": len(result.lint.spec.nodes)})
        (sys.stderr if result.ok else sys.stdout).write(report)
    if not result.ok or result.plan is None:
        typer.echo("compile: stopped by the errors above; nothing was written", err=True)
        raise typer.Exit(EXIT_ERRORS)
    expected = PurePosixPath(result.plan.generated_dir).name
    if out.name != expected:
        typer.echo(f"compile: the System puts generated files in '{result.plan.generated_dir}' (spec.gitops.path); "
                   f"--out must name that folder, got '{out}'", err=True)
        raise typer.Exit(EXIT_USAGE)
    root = out.resolve().parent
    for _ in PurePosixPath(result.plan.generated_dir).parts[1:]:
        root = root.parent
    report = write(result.artifacts, root, result.plan.generated_dir, check=check)
    for line in report.lines(check):
        typer.echo(line)
    if check:
        if not report.up_to_date:
            typer.echo(f"compile --check: {out} is out of date ({len(report.lines(True))} file(s)); "
                       "run `specops compile` and commit the result", err=True)
            raise typer.Exit(EXIT_ERRORS)
        typer.echo(f"compile --check: {len(result.artifacts)} files up to date")
        return root
    typer.echo(f"compile: {len(result.artifacts)} files ({len(report.created)} created, {len(report.updated)} updated, "
               f"{len(report.deleted)} deleted, {len(report.unchanged)} unchanged)")
    return root


@app.command()
def run(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Spec files or folders (default: specs/).", show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The generated/ folder (its parent is the repository root).")] = Path("generated"),
    stage: Annotated[Optional[list[str]], typer.Option("--stage", "-s", help="Run only this DVC stage and what it needs (repeatable).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rerun stages even when nothing changed.")] = False,
    policies: PoliciesOpt = None,
) -> None:
    """Compile, then execute the generated DVC pipeline end to end on this machine.

    The stages are the same `python -m runtime <step>` commands Argo runs in a
    cluster; unchanged stages are skipped (DVC cache)."""
    from compiler.execute import PipelineError, run_pipeline

    root = _compile_and_write(paths, out, False, policies, Format.text)
    console = Console(highlight=False, stderr=True)

    def announce(index: int, total: int, name: str) -> None:
        from rich.progress_bar import ProgressBar

        # A bar per stage boundary, not a live display: the stages' own output
        # (DVC's and the runtime's) goes straight to the terminal in between.
        line = Table.grid(padding=(0, 1))
        line.add_row(ProgressBar(total=total, completed=index, width=30), f"[bold]stage {index + 1}/{total}[/] {name}")
        console.print(line)

    try:
        report = run_pipeline(root, tuple(stage or ()), force=force, on_stage=announce)
    except PipelineError as exc:
        typer.echo(f"run: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    _print_run_summary(report, root)
    if not report.ok:
        failed = report.failed
        typer.echo(f"run: stage '{failed.name}' failed: {failed.message}" if failed else "run: failed", err=True)
        raise typer.Exit(EXIT_ERRORS)


def _print_run_summary(report: "RunReport", root: Path) -> None:  # noqa: F821 (imported lazily)
    from compiler.run_summary import summarize

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    for renderable in summarize(report, root):
        console.print(renderable)


@app.command()
def show(paths: PathsArg, policies: PoliciesOpt = None) -> None:
    """Lint, then summarise the system: environments, data, features, models, governance."""
    result = _run_lint(paths, policies)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    if not result.ok:
        report = RENDERERS["text"](result.diagnostics, result.loaded.source_lines(),
                                   {"files": len(result.loaded.files), "resources": len(result.spec.nodes)})
        sys.stdout.write(report)
        raise typer.Exit(EXIT_ERRORS)
    from compiler.summary import summary_tables

    for table in summary_tables(result.spec):
        console.print(table)
    counts = result.counts()
    console.print(f"lint: {counts['error']} error(s), {counts['warning']} warning(s); "
                  f"{len(result.spec.nodes)} resources in {len(result.loaded.files)} files")


@app.command()
def schema(
    out: Annotated[Path, typer.Option("--out", help="Where to write the JSON Schema.")] = Path(DEFAULT_SCHEMA_PATH),
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if the file is stale.")] = False,
) -> None:
    """Write the JSON Schema of every spec kind (for yaml-language-server)."""
    _write_or_check(out, render_schema(), check, "schema")


def _write_or_check(out: Path, text: str, check: bool, command: str) -> None:
    if check:
        current = out.read_text(encoding="utf-8") if out.exists() else None
        if current != text:
            typer.echo(f"{out}: stale or missing; run `specops {command} --out {out}`", err=True)
            raise typer.Exit(EXIT_ERRORS)
        typer.echo(f"{out}: up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}")


@app.command()
def reference(
    out: Annotated[Path, typer.Option("--out", help="Where to write the Markdown reference.")] = Path(DEFAULT_REFERENCE_PATH),
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if the file is stale.")] = False,
) -> None:
    """Write the spec reference (Markdown, generated from the spec models)."""
    from compiler.reference import render_reference

    _write_or_check(out, render_reference(), check, "reference")


@app.command()
def explain(code: Annotated[str, typer.Argument(help="A diagnostic code such as SO403.")]) -> None:
    """Describe a diagnostic code and how to fix it."""
    info = CODES.get(code.upper())
    if info is None:
        hint = did_you_mean(code.upper(), CODES) or "run `specops explain --list` for all codes"
        typer.echo(f"unknown code '{code}'; {hint}", err=True)
        raise typer.Exit(EXIT_USAGE)
    typer.echo(f"{info.code}: {info.title}  (stage: {info.stage})\n\n{info.explanation}\n\nFix: {info.fix}")


@app.command("codes")
def list_codes() -> None:
    """List every diagnostic code."""
    for info in CODES.values():
        typer.echo(f"{info.code}  {info.stage:<9} {info.title}")


class PlanFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


@app.command()
def plan(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Spec files or folders (default: specs/).", show_default=False)] = None,
    base: Annotated[str, typer.Option("--base", help="The git revision to compare with (branch, tag, commit, HEAD~1).")] = ...,  # type: ignore[assignment]
    policies: PoliciesOpt = None,
    format: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format.")] = PlanFormat.text,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the plan to a file.")] = None,
    color: Annotated[Optional[bool], typer.Option("--color/--no-color", help="Colour text output.")] = None,
) -> None:
    """What the working tree changes against --base: resources, meaning, approvals required."""
    from compiler.change import FORMATS, build_change_plan
    from compiler.change.revision import RevisionError, exists_at, read_revision, repository_root, resolve_revision
    from compiler.compile import compile_sources
    from compiler.load import read_sources

    spec_paths = list(paths) if paths else [Path("specs")]
    inputs = _inputs(spec_paths, policies)
    try:
        first = spec_paths[0] if spec_paths[0].is_dir() else spec_paths[0].parent
        root = repository_root((first if first.is_dir() else Path.cwd()).resolve())
        revision = resolve_revision(root, base)
        for path in spec_paths:
            if not path.exists() and not exists_at(root, revision, path):
                raise RevisionError(f"'{path}' exists neither in the working tree nor at {revision.label}")
        base_files, base_problems = read_revision(root, revision, inputs)
    except RevisionError as exc:
        typer.echo(f"plan: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    # No spec files at the base (the specs are new): everything is created.
    base_result = compile_sources(base_files, base_problems) if base_files or base_problems else None
    head_result = compile_sources(*read_sources(inputs))
    change = build_change_plan(base_result, head_result, f"base {revision.label}")
    use_color = color if color is not None else (format is PlanFormat.text and output is None and sys.stdout.isatty()
                                                  and "NO_COLOR" not in os.environ)
    report = FORMATS[format.value](change, {"color": use_color})
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report, encoding="utf-8")
    else:
        sys.stdout.write(report)
    raise typer.Exit(EXIT_OK if change.ok else EXIT_ERRORS)


@app.command()
def serve(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Spec files or folders (default: specs/).", show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The generated/ folder (its parent is the repository root).")] = Path("generated"),
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="The model to serve (needed when there are several).")] = None,
    host: Annotated[Optional[str], typer.Option("--host", help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", "-p", min=1, max=65535, help="HTTP port (default 8080).")] = None,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request (costs about half the throughput).")] = False,
    policies: PoliciesOpt = None,
    canary: Annotated[Optional[float], typer.Option("--canary", min=0.01, max=100.0, help="Send this percent of requests to the registry's candidate (a canary analysed and rolled back by the model's spec.serving.canary).")] = None,
    shadow: Annotated[bool, typer.Option("--shadow", help="Score every request with the registry's candidate too (in the answer's provenance; the champion answers).")] = False,
) -> None:
    """Compile, then serve a model's local registry version (champion, else the
    candidate `specops run` registered) with kserve's ModelServer: V1, V2,
    OpenAPI, health and /metrics."""
    from compiler.serve import ServeError, serve_command

    _compile_and_write(paths, out, False, policies, Format.text)
    try:
        command = serve_command(out, model, host, port, access_log, canary, shadow)
    except ServeError as exc:
        typer.echo(f"serve: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    raise typer.Exit(command.run())


@app.command()
def replay(
    scenario: Annotated[str, typer.Option("--scenario", "-s", help="The scenario (--list shows them).")] = "stationary",
    list_: Annotated[bool, typer.Option("--list", help="List the scenarios and exit.")] = False,
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Spec files or folders (default: specs/).", show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The generated/ folder (its parent is the repository root).")] = Path("generated"),
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="The model to ask (needed when there are several).")] = None,
    url: Annotated[Optional[str], typer.Option("--url", help="A running server (default: start `specops serve` for the replay).")] = None,
    days: Annotated[float, typer.Option("--days", min=0.01, max=60, help="Simulated days to replay.")] = 2.0,
    # Two rounds an hour: the drift check judges a 1-hour window only from 50 predictions on.
    step: Annotated[float, typer.Option("--step", min=60, max=86400, help="Simulated seconds between prediction rounds.")] = 1800.0,
    json_: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    monitor_: Annotated[bool, typer.Option("--monitor/--no-monitor", help="Then run the monitor on the replay's clock and scenario labels, and enforce breaches (the whole loop).")] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --monitor: report breaches, do not act on them.")] = False,
    policies: PoliciesOpt = None,
) -> None:
    """Rehearse the online loop: a scenario's generated events (drift, faults)
    through NATS JetStream into the ingester, predictions from the server as
    the simulated clock advances. Needs `specops run` first and a NATS server."""
    import subprocess

    from compiler.replay import replay_command, start_local_server
    from compiler.serve import ServeError, local_serve_configs

    if list_:
        raise typer.Exit(subprocess.run([sys.executable, "-m", "runtime", "replay", "--list"], check=False).returncode)
    _compile_and_write(paths, out, False, policies, Format.text)
    server = None
    try:
        configs = local_serve_configs(out)
        name = model or (next(iter(configs)) if len(configs) == 1 else None)
        if name is None:
            raise ServeError("choose the model to ask with --model" if configs else "no local serve config")
        if url is None:
            server, url, _ = start_local_server(out, name)
        import uuid

        run_id = uuid.uuid4().hex[:8]
        command = replay_command(out, name, scenario, url, days, step, json_, run_id)
        code = subprocess.run(list(command.argv), cwd=command.cwd, check=False).returncode
        if code == 0 and monitor_:
            from compiler.monitor import MonitorError, monitor_command

            run_dir = command.cwd / ".specops" / "replay" / f"{scenario}-{run_id}"
            labels = run_dir / "labels.parquet"
            typer.echo(f"monitor: judging the replay (clock: event time, labels: {labels.relative_to(command.cwd)})",
                       err=True)
            try:
                # Every replay's events: the online state this one continued from holds them all.
                mon = monitor_command(out, name, None, "text", None, "last", dry_run, (str(labels),), "event",
                                      (str(run_dir.parent / "*" / "events.parquet"),))
            except MonitorError as exc:
                raise ServeError(str(exc)) from None
            code = mon.run()
    except ServeError as exc:
        typer.echo(f"replay: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
    raise typer.Exit(code)


@app.command()
def monitor(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Spec files or folders (default: specs/).", show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The generated/ folder (its parent is the repository root).")] = Path("generated"),
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="The model to monitor (needed when there are several).")] = None,
    once: Annotated[bool, typer.Option("--once", help="Evaluate once and exit (the default).")] = False,
    every: Annotated[Optional[str], typer.Option("--every", help="Evaluate continuously, e.g. every 5m (Ctrl-C stops).")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="What to print: text, json or html (all three are written).")] = "text",
    report_dir: Annotated[Optional[Path], typer.Option("--report-dir", help="Where report.{json,html,txt} go (default: the config's output).")] = None,
    at: Annotated[Optional[str], typer.Option("--at", help="Judge as of: an ISO time, 'now' (default) or 'last' (the last logged request).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only: do not enforce breaches.")] = False,
    policies: PoliciesOpt = None,
    labels: Annotated[Optional[list[str]], typer.Option("--labels", help="Extra label files (a glob; repeatable), e.g. .specops/replay/<run>/labels.parquet.")] = None,
    clock: Annotated[str, typer.Option("--clock", help="Judge by when requests were served ('served') or by the time their features describe ('event': replays, backfills).")] = "served",
    events: Annotated[Optional[list[str]], typer.Option("--events", help="Event files the online path applied beyond the validated snapshot (a glob; repeatable), for the skew check.")] = None,
) -> None:
    """Compile, then judge a model's ServiceLevel objectives over the local
    prediction log and review store, as the cluster's monitor CronWorkflow
    does, and enforce breaches (unless --dry-run); writes report.json,
    report.html, report.txt and results.json."""
    from compiler.monitor import MonitorError, monitor_command, parse_every

    if once and every is not None:
        typer.echo("monitor: give --once or --every, not both", err=True)
        raise typer.Exit(EXIT_USAGE)
    if format not in ("text", "json", "html"):
        typer.echo(f"monitor: --format {format!r}: choose text, json or html", err=True)
        raise typer.Exit(EXIT_USAGE)
    if clock not in ("served", "event"):
        typer.echo(f"monitor: --clock {clock!r}: choose served or event", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        if every is not None:
            parse_every(every)  # before compiling: a typo costs nothing
    except MonitorError as exc:
        typer.echo(f"monitor: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    _compile_and_write(paths, out, False, policies, Format.text)
    try:
        command = monitor_command(out, model, every, format, report_dir, at, dry_run, tuple(labels or ()), clock,
                                  tuple(events or ()))
    except MonitorError as exc:
        typer.echo(f"monitor: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    raise typer.Exit(command.run())


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    """Console entry point: usage errors exit 2, never a traceback unless SPECOPS_DEBUG is set."""
    try:
        app(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - last line of defence: report, exit 2
        if os.environ.get("SPECOPS_DEBUG"):
            raise
        sys.stderr.write(f"specops: internal error: {type(exc).__name__}: {exc}\n"
                         "This is a bug in specops; rerun with SPECOPS_DEBUG=1 for a traceback and report it.\n")
        sys.exit(EXIT_USAGE)
