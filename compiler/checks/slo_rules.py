"""Every ServiceLevel objective compiles into a Prometheus rule that can fire:
its bound is on the side the metric's SLI alerts on, its window holds enough
scrapes for the rule to see data, its name is unique (it labels the alerts),
and it applies to an environment where Prometheus watches the model."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.checks.base import error
from compiler.diagnostics import Diagnostic, Severity
from compiler.resolve import ResolvedSpec
from compiler.spec import ServiceLevel
from runtime.contracts.metrics import AVAILABILITY_SHORT_WINDOW_DIVISOR, MIN_RULE_WINDOW_S, OBJECTIVE_SLIS

__all__ = ["check"]

_BAD_SIDE = {"max": "too high", "min": "too low"}


def _fmt(seconds: float) -> str:
    return f"{seconds / 60:g}m" if seconds % 60 == 0 else f"{round(seconds, 1):g}s"


def check(spec: ResolvedSpec) -> Iterator[Diagnostic]:
    system = spec.system
    envs = system.resource.spec.environments if system else ()  # type: ignore[attr-defined]
    known = {e.name for e in envs}
    cloud = {e.name for e in envs if e.kind == "cloud"}
    for node, sl in spec.of_kind(ServiceLevel):
        seen: dict[str, int] = {}
        for i, o in enumerate(sl.spec.objectives):
            sli = OBJECTIVE_SLIS[o.metric]
            side = "max" if o.max is not None else "min"
            if side != sli.direction:
                yield error("SO485", node, ("spec", "objectives", i, side),
                            f"objective '{o.name}' sets '{side}' on {o.metric}, but {o.metric} breaches when it is "
                            f"{_BAD_SIDE[sli.direction]}: no rule can alert on this bound",
                            f"write '{sli.direction}:' instead of '{side}:'")
            shortest = o.window.seconds
            needed = float(MIN_RULE_WINDOW_S)
            if sli.kind == "availability":
                shortest /= AVAILABILITY_SHORT_WINDOW_DIVISOR
                needed *= AVAILABILITY_SHORT_WINDOW_DIVISOR
            if shortest < MIN_RULE_WINDOW_S:
                what = (f"its short burn-rate window (window / {AVAILABILITY_SHORT_WINDOW_DIVISOR}) is {_fmt(shortest)}"
                        if sli.kind == "availability" else f"window {_fmt(shortest)}")
                yield error("SO486", node, ("spec", "objectives", i, "window"),
                            f"objective '{o.name}': {what}, shorter than {_fmt(MIN_RULE_WINDOW_S)} "
                            f"(4 scrapes): the rule would see too few samples to fire reliably",
                            f"use a window of at least {_fmt(needed)}")
            if o.name in seen:
                yield Diagnostic(
                    "SO487", Severity.ERROR,
                    f"objective name '{o.name}' is used twice in ServiceLevel '{sl.name}': alerts and their "
                    "'objective' label would not say which one fired",
                    node.location("spec", "objectives", i, "name", value=True),
                    hint="give each objective a distinct name", resource=node.id,
                    related=((node.location("spec", "objectives", seen[o.name], "name", value=True), "first used here"),))
            seen.setdefault(o.name, i)
        # An unknown environment is already SO301; do not pile on.
        if sl.spec.environments and known.issuperset(sl.spec.environments):
            served = set(spec.deployed_environments(sl.spec.model)) & cloud
            if served and not served.intersection(sl.spec.environments):
                yield error("SO488", node, ("spec", "environments"),
                            f"ServiceLevel '{sl.name}' applies only to {', '.join(sl.spec.environments)}, where model "
                            f"'{sl.spec.model}' is not served in the cloud: no rule would enforce its objectives",
                            f"list environments where it is served ({', '.join(sorted(served))}), or remove "
                            "spec.environments to cover all of them")
