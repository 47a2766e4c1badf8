"""The step registry: step name -> the module that runs it.

Each module exposes ``run(config) -> int`` taking the step's typed config
(``runtime.contracts.steps``) and returning the process exit status.  A new
step is one module and one line here.
"""

from __future__ import annotations

__all__ = ["STEP_ALIASES", "STEP_MODULES"]

# Listed as data so `python -m runtime --help` and the tests can enumerate steps
# without importing their (heavy) dependencies.
STEP_MODULES: dict[str, str] = {
    "generate-data": "runtime.steps.generate_data",
    "validate-data": "runtime.steps.validate_data",
    "build-features": "runtime.steps.build_features",
    "parity": "runtime.steps.parity",
    "materialize-online": "runtime.steps.materialize_online",
    "train": "runtime.steps.train",
    "evaluate": "runtime.steps.evaluate",
    "export-onnx": "runtime.steps.export_onnx",
    "register": "runtime.steps.register",
    "propose-release": "runtime.steps.propose_release",
    "monitor": "runtime.steps.monitor",
    "ingest": "runtime.steps.ingest",
    "serve": "runtime.steps.serve",
    "edge-run": "runtime.steps.edge_run",
    "publish": "runtime.steps.publish",
    # Tools, not pipeline steps: they parse their own sub-commands (and --config).
    "review": "runtime.review.cli",
    "audit": "runtime.audit.cli",
    "replay": "runtime.replay.cli",
    "act": "runtime.actions.cli",
}

# Short names for a person at a terminal; compiled configs use the full step name.
STEP_ALIASES: dict[str, str] = {"edge": "edge-run"}
