"""`specops review ...` and `specops audit ...`: the reviewers' and auditors'
commands.

The queue and the log live in the runtime; the compiler imports nothing of
it beyond the contracts, so each command runs ``python -m runtime review|audit``
with this interpreter (as `specops run` runs DVC's stages) on the model's
compiled review config, ``generated/runtime/<model>/review.json``.  Output and
exit status are the runtime's: 0 done, 1 refused / chain broken, 2 usage.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["audit_app", "audit_release_approval", "review_app"]

review_app = typer.Typer(help="Work the human review queue (escalated predictions).", no_args_is_help=True)
audit_app = typer.Typer(help="Verify and export the hash-chained audit log.", no_args_is_help=True)

ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="The model (default: the only one with a review config).")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="A review config (default: GENERATED/runtime/<model>/review.json).")]
GeneratedOpt = Annotated[Path, typer.Option("--generated", help="The generated/ folder.")]


def _config(model: Optional[str], config: Optional[Path], generated: Path) -> Path:
    if config is not None:
        return config
    if model is not None:
        return generated / "runtime" / model / "review.json"
    found = sorted(generated.glob("runtime/*/review.json"))
    if len(found) == 1:
        return found[0]
    if not found:
        typer.echo(f"error: no review config under {generated}/runtime/ (a Model needs spec.review; "
                   "run `specops compile`)", err=True)
    else:
        names = ", ".join(p.parent.name for p in found)
        typer.echo(f"error: several models have review configs ({names}); choose one with --model", err=True)
    raise typer.Exit(2)


def _runtime(tool: str, command: list[str], config: Path, stream: bool = False) -> None:
    """Run the runtime tool with this interpreter; its output is ours (passed
    through as it comes for a server or a large export, else relayed)."""
    argv = [sys.executable, "-m", "runtime", tool, "--config", str(config), *command]
    if stream:
        raise typer.Exit(subprocess.run(argv, check=False).returncode)
    done = subprocess.run(argv, check=False, capture_output=True, text=True)
    if done.stdout:
        typer.echo(done.stdout, nl=False)
    if done.stderr:
        typer.echo(done.stderr, nl=False, err=True)
    raise typer.Exit(done.returncode)


@review_app.command("list")
def list_(
    status: Annotated[str, typer.Option(help="open, pending, claimed or decided.")] = "open",
    limit: Annotated[int, typer.Option(help="At most this many items.")] = 100,
    json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    model: ModelOpt = None, config: ConfigOpt = None, generated: GeneratedOpt = Path("generated"),
) -> None:
    """Items waiting for (or given) a human decision."""
    _runtime("review", ["list", "--status", status, "--limit", str(limit), *(["--json"] if json else [])],
             _config(model, config, generated))


@review_app.command()
def claim(
    reviewer: Annotated[str, typer.Option(help="Your identity (recorded in the audit log).")],
    item: Annotated[Optional[str], typer.Option(help="A specific item (default: the oldest open one).")] = None,
    model: ModelOpt = None, config: ConfigOpt = None, generated: GeneratedOpt = Path("generated"),
) -> None:
    """Lease an item: nobody else can decide it until the lease expires. Prints the token `decide` needs."""
    _runtime("review", ["claim", "--reviewer", reviewer, *(["--item", item] if item else [])],
             _config(model, config, generated))


@review_app.command()
def decide(
    item: Annotated[str, typer.Argument(help="The item id (the prediction id).")],
    token: Annotated[str, typer.Option(help="The token `claim` printed.")],
    reviewer: Annotated[str, typer.Option(help="Your identity (must hold the claim).")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit log).")],
    approve: Annotated[bool, typer.Option("--approve", help="The model's decision stands.")] = False,
    override: Annotated[bool, typer.Option("--override", help="Reverse the model's decision.")] = False,
    model: ModelOpt = None, config: ConfigOpt = None, generated: GeneratedOpt = Path("generated"),
) -> None:
    """Approve or override a claimed item."""
    if approve == override:
        typer.echo("error: give exactly one of --approve and --override", err=True)
        raise typer.Exit(2)
    _runtime("review", ["decide", item, "--token", token, "--reviewer", reviewer, "--reason", reason,
                        "--approve" if approve else "--override"], _config(model, config, generated))


@review_app.command()
def sweep(model: ModelOpt = None, config: ConfigOpt = None, generated: GeneratedOpt = Path("generated")) -> None:
    """Escalate items past the review timeout, as the model's policy says."""
    _runtime("review", ["sweep"], _config(model, config, generated))


@review_app.command()
def stats(model: ModelOpt = None, config: ConfigOpt = None, generated: GeneratedOpt = Path("generated")) -> None:
    """Backlog, overdue items and time to decision against the timeout."""
    _runtime("review", ["stats"], _config(model, config, generated))


@review_app.command("export-labels")
def export_labels(
    out: Annotated[Optional[Path], typer.Option(help="Default: beside the labels source's files.")] = None,
    model: ModelOpt = None, config: ConfigOpt = None, generated: GeneratedOpt = Path("generated"),
) -> None:
    """Reviewer decisions as rows of the model's labels source (prints the content hash)."""
    _runtime("review", ["export-labels", *(["--out", str(out)] if out else [])], _config(model, config, generated))


@review_app.command()
def enqueue(
    file: Annotated[str, typer.Argument(help="An escalated prediction as JSON (- for stdin).")],
    model: ModelOpt = None, config: ConfigOpt = None, generated: GeneratedOpt = Path("generated"),
) -> None:
    """Hand one escalated prediction to the queue, as the predictor does."""
    _runtime("review", ["enqueue", file], _config(model, config, generated))


@review_app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8181,
    model: ModelOpt = None, config: ConfigOpt = None, generated: GeneratedOpt = Path("generated"),
) -> None:
    """The review HTTP endpoints, for local use."""
    _runtime("review", ["serve", "--host", host, "--port", str(port)], _config(model, config, generated), stream=True)


@audit_app.command()
def verify(model: ModelOpt = None, config: ConfigOpt = None, generated: GeneratedOpt = Path("generated")) -> None:
    """Check the hash chain; exit 1 naming the first edited, deleted or reordered record."""
    _runtime("audit", ["verify"], _config(model, config, generated))


@audit_app.command()
def export(
    out: Annotated[Optional[Path], typer.Option(help="Default: stdout.")] = None,
    model: ModelOpt = None, config: ConfigOpt = None, generated: GeneratedOpt = Path("generated"),
) -> None:
    """Every audit record as JSON lines, for auditors."""
    _runtime("audit", ["export", *(["--out", str(out)] if out else [])], _config(model, config, generated),
             stream=out is None)


@audit_app.command()
def record(
    actor: Annotated[str, typer.Option(help="Who: reviewer:alice, system:monitor, ci:release-bot.")],
    action: Annotated[str, typer.Option(help="What: release.approved, monitor.rollback, ...")],
    subject: Annotated[str, typer.Option(help="About what: a release, a model.")],
    payload: Annotated[str, typer.Option(help="Details, a JSON object.")] = "{}",
    model: ModelOpt = None, config: ConfigOpt = None, generated: GeneratedOpt = Path("generated"),
) -> None:
    """Append one record (a release approval, an automated action) to the audit log."""
    _runtime("audit", ["record", "--actor", actor, "--action", action, "--subject", subject, "--payload", payload],
             _config(model, config, generated))


def audit_release_approval(generated: Path, release: str, approver: str, role: str, reason: str, on: str,
                           path: str) -> str:
    """Record a release approval in the audit log of the system's review store
    (any model's review config names it); the message says what happened.
    Git stays the approval's record of truth: this makes it part of the chain."""
    found = sorted(generated.glob("runtime/*/review.json"))
    if not found:
        return "audit: no review store configured (no generated/runtime/*/review.json); the approval is in git only"
    payload = json.dumps({"approver": approver, "role": role, "reason": reason, "date": on, "record": path},
                         sort_keys=True)
    done = subprocess.run([sys.executable, "-m", "runtime", "audit", "--config", str(found[0]), "record",
                           "--actor", f"approver:{approver}", "--action", "release.approved", "--subject", release,
                           "--payload", payload], check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the approval is written to git but not to the audit log: {done.stderr.strip()}")
    seq = json.loads(done.stdout)["seq"]
    return f"audit: recorded release.approved for {release} (audit seq {seq})"
