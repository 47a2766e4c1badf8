"""``python -m runtime propose-release``: the pipeline's last step writes a
``ModelRelease`` proposal for the registered version.

Promotion goes through git: this file is committed on a branch with
``specops release propose`` and approved in review; nothing is deployed here.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from runtime.contracts.steps import ProposeReleaseConfig
from runtime.registry import RegistryEntry

__all__ = ["proposal", "run"]

_METRIC = "abcdefghijklmnopqrstuvwxyz0123456789_"


def _release_name(model: str, version: str) -> str:
    return f"{model}-{version}".replace(".", "-").replace("+", "-").lower()


def proposal(entry: RegistryEntry) -> dict[str, object]:
    card = entry.card
    data = card.get("training_data", {}) if isinstance(card, dict) else {}
    metrics = card.get("metrics", {}) if isinstance(card, dict) else {}
    spec: dict[str, object] = {
        "model": entry.model,
        "version": entry.version,
        "artifact": {"uri": entry.model_uri, "sha256": entry.sha256, "sizeBytes": entry.size_bytes},
        "trainingData": {"hash": data.get("sha256"), "start": data.get("start"), "end": data.get("end")},
        "metrics": {k: round(float(v), 6) for k, v in sorted(metrics.items())
                    if isinstance(v, (int, float)) and math.isfinite(v) and k[:1].isalpha()
                    and all(c in _METRIC for c in k)},
        "approvals": [],
        "deployments": [],
    }
    return {"apiVersion": "specops.dev/v1alpha1", "kind": "ModelRelease",
            "metadata": {"name": _release_name(entry.model, entry.version)}, "spec": spec}


def run(config: ProposeReleaseConfig) -> int:
    entry_path = Path(config.entry)
    try:
        entry = RegistryEntry.model_validate_json(entry_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        print(f"error: {entry_path}: no registry entry (the register step did not run or refused)", file=sys.stderr)
        return 1
    except (OSError, ValidationError) as exc:
        print(f"error: {entry_path}: not a registry entry: {exc}", file=sys.stderr)
        return 2
    doc = proposal(entry)
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.yaml"):
        stale.unlink()
    target = out / f"{doc['metadata']['name']}.yaml"  # type: ignore[index]
    header = (f"# Proposed by the {config.model} pipeline (spec {config.spec_hash[:12]}).\n"
              f"# Not deployed: `specops release propose {target}` puts it in {config.releases_dir}/ for a pull request;\n"
              f"# reviewers sign it off with `specops release approve`.\n")
    target.write_text(header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False), encoding="utf-8")
    print(f"propose-release: {target} ({entry.model} {entry.version})")
    return 0
