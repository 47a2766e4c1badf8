"""Monitoring that acts: each breached objective triggers the actions its
ServiceLevel declares (rollback, open_circuit, retrain, page), idempotently,
rate-limited and with hysteresis, every action in the audit log and in its
incident's evidence.

Modules: ``notify`` (webhook and stdout notifiers), ``decide`` (pure: results
+ state -> steps), ``state`` (incidents and firings in the audit store),
``control`` (the predictor's RuntimeControl file), ``revert`` (the
ready-to-commit spec revert of a rollback), ``retrain`` (local run under a
lock, or an Argo Workflow submission), ``effects`` (the actions' side
effects), ``enforce`` (one monitoring run's enforcement), ``cli``
(``python -m runtime act``).
"""

from runtime.actions.decide import Fire, Observe, Open, Resolve, Suppress, decide, objective_key
from runtime.actions.enforce import EnforcementReport, enforce
from runtime.actions.notify import Delivery, StdoutNotifier, WebhookNotifier, build_notifiers, deliver

__all__ = [
    "Delivery", "EnforcementReport", "Fire", "Observe", "Open", "Resolve", "StdoutNotifier", "Suppress",
    "WebhookNotifier", "build_notifiers", "decide", "deliver", "enforce", "objective_key",
]
