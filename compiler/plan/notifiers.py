"""The System's notifiers as runtime configs: names resolved to typed
NotifierConfigs, a webhook's URL as an environment variable the pod maps
from its Secret (the URL itself never appears in a generated file)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from compiler.spec import System
from runtime.contracts.steps import NotifierConfig

__all__ = ["notifier_configs", "notifier_url_env"]


def notifier_url_env(name: str) -> str:
    """SPECOPS_NOTIFIER_<NAME>_URL: one variable per notifier, so a pod can hold several."""
    return f"SPECOPS_NOTIFIER_{re.sub(r'[^A-Za-z0-9]', '_', name).upper()}_URL"


def notifier_configs(system: System, names: Iterable[str]) -> tuple[NotifierConfig, ...]:
    """The configs of ``names`` in name order (lint reports names the System lacks)."""
    wanted = set(names)
    out = []
    for n in sorted(system.spec.notifiers, key=lambda n: n.name):
        if n.name not in wanted:
            continue
        ref = n.url.secret_ref if n.url is not None else None
        out.append(NotifierConfig(name=n.name, type=n.type, url_env=notifier_url_env(n.name) if ref else None,
                                  url_ref=f"{ref.name}/{ref.key}" if ref else None))
    return tuple(out)
