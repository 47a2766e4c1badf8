"""Reading a compiled review config and opening what it names."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from runtime.actions.notify import review_pager
from runtime.audit.database import open_database
from runtime.contracts.steps import ReviewConfig
from runtime.review.queue import ReviewQueue

__all__ = ["ReviewConfigError", "load_review_config", "open_queue"]


class ReviewConfigError(Exception):
    """The review config cannot be used; the message names the file and field."""


def load_review_config(path: Path) -> ReviewConfig:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReviewConfigError(f"{path}: no such config file (run `specops compile`; review configs are "
                                "generated/runtime/<model>/review.json)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReviewConfigError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ReviewConfigError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(raw, dict) or raw.get("kind") != "review":
        raise ReviewConfigError(f"{path}: not a review config (expected \"kind\": \"review\"; "
                                "use generated/runtime/<model>/review.json)")
    try:
        return ReviewConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise ReviewConfigError(f"{path}: invalid review config: {problems}") from None


def open_queue(config: ReviewConfig, actor: str | None = None) -> ReviewQueue:
    """The model's queue on the configured store, tables and triggers in place;
    a ``page`` escalation goes to the notifiers of the policy's ``notify``."""
    pager = review_pager(config.policy.notifier_configs) if config.policy.notifier_configs else None
    return ReviewQueue(open_database(config.store), config.model, config.policy, actor=actor, pager=pager).setup()
