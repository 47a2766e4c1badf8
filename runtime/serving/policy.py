"""Prediction rules -> the action: ``auto``, ``human_review`` or ``abstain``.

The rules come from the compiled policy bundle (``runtime.contracts.policy``)
and are compiled once at load.  Per request the context is converted to CEL
values once and every rule runs over it; only the variables some rule reads
are converted (converting the context is most of a request's policy cost,
bench/cel, and a variable no rule reads cannot change a result).  Precedence: ``abstain`` (do not
act on this score at all) beats ``human_review``, which beats ``auto``;
among rules of one action the bundle's order (by id) decides which one is
reported.  A rule that cannot be evaluated sends the prediction to a human:
an error never lets a prediction through unreviewed.

Where every rule is in CEL's typed subset that cannot fail, they run as one
plain Python function instead (``runtime.contracts.cel_lowering``: ~1 µs
against the engine's ~17 µs in a request's sequence, bench/serve); a context
of other types, or a NaN, still goes to the engine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runtime.contracts.cel import CelError, CelProgram, compile_cel, prepare_context, set_variable
from runtime.contracts.cel_lowering import lower_rules
from runtime.contracts.policy import (PREDICTION_VARIABLE_TYPES, PREDICTION_VARIABLES, Decision, PolicyBundle,
                                      PredictionContext, PredictionRule)

__all__ = ["CompiledRule", "PolicyEngine", "PolicyLoadError", "confidence"]

_RANK = {"auto": 0, "human_review": 1, "abstain": 2}
_NO_RULE = Decision(action="auto", reason="no prediction rule applies")
_NONE_FIRED = Decision(action="auto", reason="no prediction rule fired")
# Per-entity contexts kept (the entity variable converted once); cleared when full.
_CONTEXT_CACHE = 4096


class PolicyLoadError(Exception):
    """A rule of the bundle does not compile; the message names it."""


def confidence(score: float, threshold: float) -> float:
    """Distance of the score from the threshold, scaled to [0, 1] (0 at the
    threshold, 1 at 0 or 1)."""
    span = threshold if score < threshold else 1.0 - threshold
    if span <= 0.0:
        return 1.0
    return min(1.0, abs(score - threshold) / span)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: PredictionRule
    program: CelProgram
    when: CelProgram | None
    fired: Decision | None = None  # the decision when it fires (one frozen value, built at load)


class PolicyEngine:
    def __init__(self, rules: Sequence[PredictionRule]) -> None:
        compiled = []
        for rule in sorted(rules, key=lambda r: r.id):
            try:
                program = compile_cel(rule.expression, PREDICTION_VARIABLES)
                when = compile_cel(rule.when, PREDICTION_VARIABLES) if rule.when else None
            except CelError as exc:
                raise PolicyLoadError(f"prediction rule {rule.id} ({rule.policy}): {exc.message}") from None
            compiled.append(CompiledRule(rule, program, when, Decision(action=rule.action, rule=rule.id,
                                                                       reason=rule.message)))
        self.rules = tuple(compiled)
        # Every rule in one program (a list of their results): one evaluation per request instead of one
        # per rule.  Only where no rule has a ``when`` (a guard must short-circuit its rule), and an error
        # anywhere in it falls back to rule by rule, which names the failing rule.
        self._together: CelProgram | None = None
        if len(compiled) > 1 and all(c.when is None for c in compiled):
            try:
                self._together = compile_cel("[" + ", ".join(f"({c.rule.expression})" for c in compiled) + "]",
                                             PREDICTION_VARIABLES)
            except CelError:
                self._together = None  # each rule compiled alone: evaluate them one by one
        # The rules as one plain Python function where every rule is in CEL's typed subset that
        # cannot fail (runtime.contracts.cel_lowering): the engine costs ~17 us of a prediction in a
        # request's sequence, this ~1 (bench/serve).  A context of other types still takes the engine.
        self._lowered = lower_rules([(c.rule.expression, c.rule.when) for c in compiled],
                                    PREDICTION_VARIABLE_TYPES) if compiled else None
        if self._lowered is not None and not self._lowered_agrees():
            self._lowered = None
        used = {v for c in compiled for p in (c.program, c.when) if p is not None for v in p.variables}
        self.variables = frozenset(used & PREDICTION_VARIABLES)
        # Converting a map to CEL costs ~10x a number (bench/cel), and ``entity``
        # (and ``model``) repeat per entity: a context per entity keeps them
        # converted, the scalars are rebound per request.  ``features`` changes
        # every request, so a rule reading it takes the plain path.
        self._maps = tuple(sorted(v for v in self.variables if v in ("entity", "model")))
        self._scalars = tuple(sorted(self.variables - set(self._maps)))
        self._cacheable = bool(self._maps) and "features" not in self.variables
        self._contexts: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()  # a cached context is rebound then evaluated by one request at a time

    @property
    def lowered(self) -> bool:
        """Whether the rules run as lowered Python (else through the CEL engine)."""
        return self._lowered is not None

    def _lowered_agrees(self) -> bool:
        """The lowered rules against the engine on contexts around the example
        one (each criticality, both decisions, confidences and ages at their
        ends): a difference is a bug in the lowering, and the engine serves."""
        assert self._lowered is not None
        example = PredictionContext.example().variables()
        for criticality in ("low", "medium", "high", "critical"):
            for decision in (False, True):
                for conf, age in ((0.0, 0.0), (0.05, 60.0), (0.5, 7200.0), (1.0, 1e9)):
                    variables = {**example, "decision": decision, "confidence": conf, "featureAgeSeconds": age,
                                 "entity": {**example["entity"], "criticality": criticality}}
                    try:
                        values = prepare_context(variables)
                        expected = tuple(self._fires(c, values) for c in self.rules)
                    except CelError:
                        return False  # an error is the engine's to report (the rule goes to a human)
                    if self._lowered(variables) != expected:
                        return False
        return True

    @staticmethod
    def _fires(compiled: CompiledRule, values: Any) -> bool:
        """Whether one rule fires through the engine (its ``when`` first); raises CelError."""
        return (compiled.when is None or compiled.when.evaluate_bool(values)) and \
            compiled.program.evaluate_bool(values)

    @classmethod
    def for_model(cls, bundle: PolicyBundle, model: str) -> PolicyEngine:
        return cls(bundle.for_model(model))

    def decide(self, context: PredictionContext | Mapping[str, Any]) -> Decision:
        """The action for one prediction; ``context`` is a PredictionContext or
        its variables (``PredictionContext.variables()``, camelCase)."""
        if not self.rules:
            return _NO_RULE
        variables = context.variables() if isinstance(context, PredictionContext) else context
        if self._lowered is not None:
            fired = self._lowered(variables)
            if fired is not None:
                if True not in fired:  # the common case: nothing fired
                    return _NONE_FIRED
                return _highest(c.fired for c, hit in zip(self.rules, fired) if hit)
        if self._cacheable and variables.keys() >= self.variables:
            # The types are part of the key: 1, 1.0 and True are equal in Python, not in CEL.
            key = tuple(tuple(zip(m.keys(), map(type, m.values()), m.values()))
                        if type(m := variables[k]) is dict or isinstance(m, Mapping) else (type(m), m)
                        for k in self._maps)
            with self._lock:
                try:
                    values = self._contexts.get(key)
                    if values is None:
                        if len(self._contexts) >= _CONTEXT_CACHE:
                            self._contexts.clear()
                        values = prepare_context({k: variables[k] for k in self.variables})
                        self._contexts[key] = values
                    else:
                        for name in self._scalars:
                            set_variable(values, name, variables[name])
                except CelError as exc:
                    return Decision(action="human_review", rule=None,
                                    reason=f"policy context could not be built: {exc.message}")
                except TypeError:  # an unhashable value in a map: not cacheable, take the plain path
                    pass
                else:
                    return self._evaluate(values)
        try:
            values = prepare_context({k: v for k, v in variables.items() if k in self.variables})
        except CelError as exc:
            return Decision(action="human_review", rule=None, reason=f"policy context could not be built: {exc.message}")
        return self._evaluate(values)

    def _evaluate(self, values: Any) -> Decision:
        if self._together is not None:
            try:
                fired = self._together.evaluate(values)
            except CelError:
                pass  # rule by rule below: the failing rule is named and sends the prediction to a human
            else:
                if type(fired) is list and all(type(f) is bool for f in fired):
                    if True not in fired:  # the common case: nothing fired
                        return _NONE_FIRED
                    return _highest(c.fired for c, hit in zip(self.rules, fired) if hit)
        return self._one_by_one(values)

    def _one_by_one(self, values: Any) -> Decision:
        return _highest(self._fired_one_by_one(values))

    def _fired_one_by_one(self, values: Any) -> Iterator[Decision]:
        for compiled in self.rules:
            rule = compiled.rule
            try:
                fired = self._fires(compiled, values)
            except CelError as exc:
                yield Decision(action="human_review", rule=rule.id,
                               reason=f"rule {rule.id} could not be evaluated ({exc.message}); a human decides")
            else:
                if fired:
                    yield compiled.fired or Decision(action=rule.action, rule=rule.id, reason=rule.message)


def _highest(fired: Iterable[Decision | None]) -> Decision:
    """The decision of the highest action among those fired; the first (bundle order) among equals."""
    best: Decision | None = None
    for candidate in fired:
        if candidate is not None and (best is None or _RANK[candidate.action] > _RANK[best.action]):
            best = candidate
    return best or _NONE_FIRED
