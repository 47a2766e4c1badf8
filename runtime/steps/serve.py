"""``python -m runtime serve --config FILE``: the predictor behind a kserve
ModelServer, in an InferenceService pod or under `specops serve`.

Exit status: 2 when nothing can be served (no such release or registry
alias, a model file that fails its sha256 or feature check, an unusable
policy bundle or online store), with one message naming what and why;
otherwise the server runs until SIGTERM/SIGINT (0).

`specops serve` may override where it listens through the environment
(``SPECOPS_SERVE_HOST``, ``SPECOPS_SERVE_PORT``, ``SPECOPS_SERVE_ACCESS_LOG=1``);
the compiled config is never rewritten.  The local variant also takes an
in-process challenger (``SPECOPS_SERVE_CANARY_PERCENT``: the registry's
``candidate`` answers that share of requests; ``SPECOPS_SERVE_SHADOW=1``: it
scores every request and never answers) and reloads when the registry's
aliases move (polled every ``SPECOPS_SERVE_RELOAD_POLL_S``, 2 s by default;
0 turns the polling off) or on SIGHUP (in a pod as well: it re-resolves the
release the config names).
"""

from __future__ import annotations

import gc
import os
import sys

from pydantic import ValidationError

from runtime.contracts.steps import ServeConfig
from runtime.predlog.store import LogError
from runtime.serving.online import StoreConfigError
from runtime.serving.policy import PolicyLoadError
from runtime.serving.release import ReleaseError
from runtime.serving.scoring import ModelFileError

__all__ = ["CANARY_ENV", "RELOAD_ENV", "SHADOW_ENV", "run", "with_challenger"]

CANARY_ENV, SHADOW_ENV, RELOAD_ENV = "SPECOPS_SERVE_CANARY_PERCENT", "SPECOPS_SERVE_SHADOW", "SPECOPS_SERVE_RELOAD_POLL_S"


def _listen(config: ServeConfig) -> tuple[str, int, bool]:
    from runtime.serving.server import DEFAULT_HOST, DEFAULT_PORT

    host = os.environ.get("SPECOPS_SERVE_HOST") or config.host or DEFAULT_HOST
    raw_port = os.environ.get("SPECOPS_SERVE_PORT")
    if raw_port is not None and not (raw_port.isdigit() and 1 <= int(raw_port) <= 65535):
        raise ValueError(f"SPECOPS_SERVE_PORT={raw_port!r} is not a port number (1-65535)")
    port = int(raw_port) if raw_port else (config.port or DEFAULT_PORT)
    access_log = os.environ.get("SPECOPS_SERVE_ACCESS_LOG") == "1" or bool(config.access_log)
    return host, port, access_log


def with_challenger(config: ServeConfig, environ: dict[str, str] | os._Environ[str]) -> ServeConfig:
    """The config with `specops serve --canary/--shadow` applied (local variant only)."""
    raw_percent, shadow = environ.get(CANARY_ENV), environ.get(SHADOW_ENV) == "1"
    if raw_percent is None and not shadow:
        return config
    if not config.registry_aliases:
        raise ValueError("--canary/--shadow apply to `specops serve` only; in a cluster the release in git decides")
    if raw_percent is not None and shadow:
        raise ValueError("choose one of --canary and --shadow")
    if config.canary is None:
        raise ValueError(f"model {config.model!r} declares no spec.serving.canary (its analysis decides rollbacks); "
                         "add one to serve a challenger")
    if shadow:
        return config.model_copy(update={"registry_shadow_alias": config.canary.challenger_alias or "candidate"})
    try:
        percent = float(raw_percent)  # type: ignore[arg-type]
    except ValueError:
        percent = -1.0
    if not 0.0 < percent <= 100.0:
        raise ValueError(f"{CANARY_ENV}={raw_percent!r}: the canary percent must be a number in (0, 100]")
    canary = config.canary.model_copy(update={"percent": percent,
                                              "challenger_alias": config.canary.challenger_alias or "candidate"})
    return config.model_copy(update={"canary": canary})


def _reload_poll(config: ServeConfig) -> float:
    raw = os.environ.get(RELOAD_ENV)
    if raw is None:
        return 2.0 if config.registry_aliases else 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{RELOAD_ENV}={raw!r} is not a number of seconds") from None
    if value < 0:
        raise ValueError(f"{RELOAD_ENV}={raw!r}: seconds must be >= 0 (0: no polling)")
    return value


def run(config: ServeConfig) -> int:
    # kserve parses sys.argv when imported, and argparse's prefix matching
    # reads our --config as its --configure_logging: it must see no arguments.
    sys.argv = sys.argv[:1]
    from runtime.serving.predictor import SpecOpsPredictor
    from runtime.serving.server import SpecOpsModelServer

    try:
        host, port, access_log = _listen(config)
        config = with_challenger(config, os.environ)
        poll_s = _reload_poll(config)
    except ValueError as exc:
        print(f"error: serve {config.model}: {exc}", file=sys.stderr)
        return 2

    review = None
    if config.review is not None:  # escalations go to the durable queue, committed before each answer
        from runtime.audit.database import DatabaseError
        from runtime.review.config import open_queue

        try:
            review = open_queue(config.review)
        except DatabaseError as exc:
            print(f"error: serve {config.model}: {exc}", file=sys.stderr)
            return 2
    from runtime.audit.database import DatabaseError as ControlStoreError

    predictor = SpecOpsPredictor(config, review=review)
    try:
        predictor.load()
    # ControlStoreError: the database control channel's DSN is not set (a store down is the refresher's problem)
    except (ReleaseError, ModelFileError, PolicyLoadError, StoreConfigError, LogError, ControlStoreError) as exc:
        print(f"error: serve {config.model}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: serve {config.model}: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"error: serve {config.model}: {config.policy_bundle}: invalid policy bundle: "
              f"{exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    if review is not None:
        # The review SLIs (backlog, time to decision) on kserve's /metrics, read
        # from the shared store: every replica reports the same truth.
        from prometheus_client import REGISTRY

        from runtime.review.metrics import ReviewCollector

        REGISTRY.register(ReviewCollector(review, (config.environment,)))
    # Everything loaded so far (model, rules, store clients, imports) lives as
    # long as the server: keep it out of the collector's generations, whose
    # full scans otherwise show up as millisecond pauses in the p99.
    gc.freeze()
    shadow = f", shadow {predictor.shadow_release.version}" if predictor.shadow_release else ""
    if predictor.challenger is not None:
        shadow += f", canary {predictor.challenger.served.version} at {config.canary.percent:g}%"  # type: ignore[union-attr]
    from runtime.serving.reload import ReleaseWatcher

    ReleaseWatcher(predictor, poll_s).start()  # SIGHUP reloads, wherever it runs
    print(f"serve {config.model}: version {predictor.served.version} ({predictor.served.release}{shadow}) "
          f"on http://{host}:{port} (V1 /v1/models/{config.model}:predict, V2 /v2/models/{config.model}/infer, "
          f"/metrics, /openapi.json)", file=sys.stderr, flush=True)
    SpecOpsModelServer(host=host, http_port=port, access_log=access_log).start([predictor])
    return 0
