"""Render one postmortem per failure drill (docs/postmortems/<drill>.md) from
bench/results/drills.json.  ``--check`` exits 1 when a committed postmortem
differs from what the results file renders (run after `make bench-drills`).

The follow-ups are the one part a drill cannot measure: what we changed or
decided because of it, kept here as data next to the drill names.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "drills.json"
OUT = REPO / "docs" / "postmortems"

FOLLOW_UPS: dict[str, str] = {
    "covariate_drift": (
        "Score drift (PSI of the model's scores) is what acts on a single-sensor recalibration: the `drift` "
        "objective bounds the *share* of drifted features (0.3), and one recalibrated sensor of six is 1/6, so it "
        "cannot breach alone. Open: weight the share by feature importance, or add a per-feature objective."),
    "degradation": (
        "Estimated quality (confidence-based) flags the loss days before labels mature; realized quality confirms "
        "it. Retraining is triggered on the estimate; the page waits for the realized confirmation."),
    "concept_drift": (
        "Estimation cannot see a pure change of P(y|x) (documented limit); realized quality catches it once labels "
        "mature, reviewer overrides earlier. Open: an objective on the reviewer override rate."),
    "bad_release": (
        "Canary analysis rolls the challenger back within its first step; the runtime only lowers traffic, and "
        "the revert of the release in git is the pull request a human opens."),
    "review_overload": (
        "The backlog objective pages before the queue is unmanageable. Open: tie the escalation rule's threshold "
        "to reviewer capacity."),
    "training_serving_skew": (
        "The live skew check recomputes a sample of served vectors with the batch engine on every monitor run and "
        "names the entity and feature that differ."),
}


def _flat(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k in sorted(value):
            yield from _flat(value[k], f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list) and value and all(isinstance(v, (dict, list)) for v in value):
        for i, v in enumerate(value):
            yield from _flat(v, f"{prefix}[{i}]")
    else:
        yield prefix, value


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value) if value else "none"
    if value is None:
        return "none"
    return str(value)


_DETECTION_SKIP = {"name", "failure_mode", "detector", "detected", "human_action", "objective", "objective_breached",
                   "actions", "injected", "stdout_pages", "wall_s"}


def render(results: dict[str, Any]) -> dict[str, str]:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=False,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    template = env.get_template("postmortem.md.j2")
    docs: dict[str, str] = {}
    for d in results["drills"]:
        detection = [(k, _shown(v)) for k, v in sorted(d.items())
                     if k not in _DETECTION_SKIP and not isinstance(v, (dict, list))]
        docs[f"{d['name']}.md"] = template.render(
            d=d, size=results["size"], when=results["when"],
            injected=[(k, _shown(v)) for k, v in _flat(d.get("injected", {}))],
            breached=", ".join(d.get("objective_breached") or []), detection=detection,
            follow_up=FOLLOW_UPS.get(d["name"], "No follow-up recorded for this drill yet."),
            figures=[(k, _shown(v)) for k, v in _flat({k: v for k, v in d.items() if k != "stdout_pages"})])
    index = ["# Postmortems", "",
             "One per failure drill (`bench/drills`), rendered from `bench/results/drills.json` by",
             "`bench/drills/postmortems.py`; a test keeps them equal to that file.", "",
             "| drill | failure mode | detected | what acted |", "|---|---|---|---|"]
    for d in results["drills"]:
        acts = ", ".join(sorted({a["action"] for a in d.get("actions", [])})) or "nothing"
        index.append(f"| [{d['name']}]({d['name']}.md) | {d['failure_mode']} | {'yes' if d['detected'] else 'no'} "
                     f"| {acts} |")
    docs["README.md"] = "\n".join(index) + "\n"
    return docs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="exit 1 if docs/postmortems/ is stale")
    args = p.parse_args(argv)
    docs = render(json.loads(RESULTS.read_text(encoding="utf-8")))
    stale = [name for name, text in docs.items()
             if not (OUT / name).is_file() or (OUT / name).read_text(encoding="utf-8") != text]
    if args.check:
        for name in stale:
            print(f"stale: docs/postmortems/{name} (run python bench/drills/postmortems.py)", file=sys.stderr)
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (OUT / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(docs)} file(s) to docs/postmortems/ ({len(stale)} changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
