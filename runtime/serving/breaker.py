"""A circuit breaker around one dependency of the predictor (the online
store, the model): closed -> open -> half-open -> closed.

* closed: calls go through; ``failure_threshold`` failures within
  ``window_s`` open it (successes do not reset the count: a dependency that
  fails one call in three is still failing).
* open: no call goes through for ``open_for_s``; the caller answers with the
  declared fallback.
* half-open: ``half_open_requests`` probes go through (the rest get the
  fallback); all of them succeeding closes it, any one failing reopens it.

The transitions are pure functions over a frozen ``Circuit`` value
(``admit``, ``record``), so they are tested exhaustively without threads or
clocks; ``CircuitBreaker`` holds one under a lock with an injected clock.
Every admitted call carries the circuit's ``generation``: a result arriving
after the circuit moved on (a slow call admitted while closed that fails
once it is already open) changes nothing, so it can neither extend an open
period nor count as a half-open probe it never was.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from runtime.contracts.metrics import CIRCUIT_STATES
from runtime.contracts.steps import BreakerConfig

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "Circuit", "CircuitBreaker", "State", "Ticket", "admit", "record",
           "state_value"]

State = Literal["closed", "half_open", "open"]
CLOSED: State = "closed"
HALF_OPEN: State = "half_open"
OPEN: State = "open"


def state_value(state: State) -> int:
    """The ``specops_circuit_state`` gauge value: 0 closed, 1 half-open, 2 open."""
    return CIRCUIT_STATES.index(state)


@dataclass(frozen=True, slots=True)
class Circuit:
    state: State = CLOSED
    generation: int = 0  # bumped on every transition
    failures: tuple[float, ...] = ()  # closed: times of the recent failures (at most threshold - 1 kept)
    opened_at: float = 0.0
    probes_admitted: int = 0  # half-open
    probes_passed: int = 0


@dataclass(frozen=True, slots=True)
class Ticket:
    """The permission to make one call, to be returned to ``record``."""

    generation: int
    probe: bool


def _transition(c: Circuit, state: State, now: float) -> Circuit:
    return Circuit(state=state, generation=c.generation + 1, opened_at=now if state == OPEN else c.opened_at)


def _due(c: Circuit, cfg: BreakerConfig, now: float) -> Circuit:
    """An open circuit whose ``open_for`` has passed is half-open."""
    if c.state == OPEN and now - c.opened_at >= cfg.open_for_s:
        return _transition(c, HALF_OPEN, now)
    return c


def admit(c: Circuit, cfg: BreakerConfig, now: float) -> tuple[Circuit, Ticket | None]:
    """May a call go through now?  ``None``: no, answer with the fallback."""
    c = _due(c, cfg, now)
    if c.state == CLOSED:
        return c, Ticket(c.generation, probe=False)
    if c.state == HALF_OPEN and c.probes_admitted < cfg.half_open_requests:
        return replace(c, probes_admitted=c.probes_admitted + 1), Ticket(c.generation, probe=True)
    return c, None


def record(c: Circuit, cfg: BreakerConfig, now: float, ticket: Ticket, ok: bool) -> Circuit:
    """The outcome of a call admitted with ``ticket``."""
    c = _due(c, cfg, now)
    if ticket.generation != c.generation:
        return c  # admitted under an earlier state: its outcome no longer says anything
    if c.state == CLOSED:
        if ok:
            return c
        recent = tuple(t for t in c.failures if now - t < cfg.window_s) + (now,)
        if len(recent) >= cfg.failure_threshold:
            return _transition(c, OPEN, now)
        return replace(c, failures=recent)
    if c.state == HALF_OPEN and ticket.probe:
        if not ok:
            return _transition(c, OPEN, now)
        passed = c.probes_passed + 1
        if passed >= cfg.half_open_requests:
            return _transition(c, CLOSED, now)
        return replace(c, probes_passed=passed)
    return c


class CircuitBreaker:
    """One dependency's circuit, shared by the server's threads.

    ``on_change(state)`` is called after every transition (under the lock:
    keep it cheap), e.g. to set the ``specops_circuit_state`` gauge."""

    def __init__(self, dependency: str, config: BreakerConfig, *, clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[State], None] | None = None) -> None:
        self.dependency = dependency
        self.config = config
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._circuit = Circuit()
        self._closed_ticket = Ticket(0, probe=False)
        self.opened = 0  # how many times it opened (for tests and incidents)

    @property
    def circuit(self) -> Circuit:
        with self._lock:
            self._set(_due(self._circuit, self.config, self._clock()))
            return self._circuit

    @property
    def state(self) -> State:
        return self.circuit.state

    def admit(self) -> Ticket | None:
        c = self._circuit  # one reference read: the lock-free path of every request while closed
        if c.state == CLOSED:
            # admit() of a closed circuit changes nothing; a transition racing this read makes
            # the ticket stale, and record() ignores stale tickets.
            return self._closed_ticket
        with self._lock:
            nxt, ticket = admit(self._circuit, self.config, self._clock())
            self._set(nxt)
        return ticket

    def record(self, ticket: Ticket, ok: bool) -> State:
        """Record an outcome; returns the state after it."""
        c = self._circuit
        if ok and c.state == CLOSED and ticket.generation == c.generation:
            return CLOSED  # record() of a success on a closed circuit changes nothing
        with self._lock:
            self._set(record(self._circuit, self.config, self._clock(), ticket, ok))
            return self._circuit.state

    def _set(self, nxt: Circuit) -> None:
        # Under the lock, so the gauge sees the transitions in their order.
        changed = nxt.generation != self._circuit.generation
        if changed and nxt.state == CLOSED:
            self._closed_ticket = Ticket(nxt.generation, probe=False)  # before the circuit is published
        self._circuit = nxt
        if changed:
            if nxt.state == OPEN:
                self.opened += 1
            if self._on_change is not None:
                self._on_change(nxt.state)
