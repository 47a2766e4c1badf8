"""The circuit breaker's state machine: the spec's numbers walked through by
hand, every transition checked against its rule over random call sequences
(hypothesis), and the shared breaker under concurrent threads."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.contracts.steps import BreakerConfig
from runtime.serving.breaker import CLOSED, HALF_OPEN, OPEN, Circuit, CircuitBreaker, Ticket, admit, record, state_value

# specs/slos/pump-failure.yaml
SPEC = BreakerConfig(failure_threshold=5, window_s=30.0, open_for_s=60.0, half_open_requests=3, fallback="human_review")


@dataclass
class FakeClock:
    t: float = 1000.0

    def __call__(self) -> float:
        return self.t


def test_the_spec_thresholds_walked_through() -> None:
    clock = FakeClock()
    seen: list[str] = []
    b = CircuitBreaker("online-store", SPEC, clock=clock, on_change=seen.append)
    for i in range(4):  # four failures: still closed
        t = b.admit()
        assert t is not None and b.record(t, ok=False) == CLOSED, i
        clock.t += 1
    t = b.admit()
    assert t is not None and b.record(t, ok=False) == OPEN  # the fifth within 30 s opens it
    assert b.admit() is None  # open: nothing goes through...
    clock.t += 59.9
    assert b.admit() is None  # ...for the whole 60 s
    clock.t += 0.1
    probes = [b.admit() for _ in range(5)]
    assert b.state == HALF_OPEN
    assert [p is not None and p.probe for p in probes] == [True, True, True, False, False]  # 3 probes, 2 fallbacks
    assert b.record(probes[0], ok=True) == HALF_OPEN
    assert b.record(probes[1], ok=True) == HALF_OPEN
    assert b.record(probes[2], ok=True) == CLOSED
    assert seen == [OPEN, HALF_OPEN, CLOSED] and b.opened == 1
    assert [state_value(s) for s in seen] == [2, 1, 0]


def test_failures_spread_wider_than_the_window_never_open_it() -> None:
    clock = FakeClock()
    b = CircuitBreaker("model", SPEC, clock=clock)
    for _ in range(50):
        t = b.admit()
        assert t is not None and b.record(t, ok=False) == CLOSED
        clock.t += 7.6  # five failures span 30.4 s > the 30 s window
    assert b.opened == 0


def test_successes_do_not_reset_the_failure_count() -> None:
    b = CircuitBreaker("model", SPEC, clock=FakeClock())
    for _ in range(4):
        b.record(b.admit(), ok=False)  # type: ignore[arg-type]
        b.record(b.admit(), ok=True)  # type: ignore[arg-type]
    b.record(b.admit(), ok=False)  # type: ignore[arg-type]
    assert b.state == OPEN


def test_a_failed_probe_reopens_for_a_full_period() -> None:
    clock = FakeClock()
    b = CircuitBreaker("online-store", SPEC, clock=clock)
    for _ in range(5):
        b.record(b.admit(), ok=False)  # type: ignore[arg-type]
    clock.t += 60
    first, second = b.admit(), b.admit()
    assert first is not None and second is not None
    b.record(first, ok=True)
    assert b.record(second, ok=False) == OPEN
    clock.t += 59
    assert b.admit() is None
    clock.t += 1
    assert b.admit() is not None and b.state == HALF_OPEN


def test_a_late_result_from_an_earlier_state_changes_nothing() -> None:
    clock = FakeClock()
    b = CircuitBreaker("online-store", SPEC, clock=clock)
    slow = b.admit()  # admitted while closed, answers after the circuit opened
    for _ in range(5):
        b.record(b.admit(), ok=False)  # type: ignore[arg-type]
    opened_at = b.circuit.opened_at
    clock.t += 30
    assert slow is not None and b.record(slow, ok=False) == OPEN
    assert b.circuit.opened_at == opened_at  # not extended
    clock.t += 30
    probe = b.admit()
    assert probe is not None and probe.probe
    assert b.record(slow, ok=True) == HALF_OPEN and b.circuit.probes_passed == 0  # not counted as a probe


# --------------------------------------------------------- property tests

CONFIGS = st.builds(
    BreakerConfig,
    failure_threshold=st.integers(1, 6), window_s=st.sampled_from([1.0, 5.0, 30.0]),
    open_for_s=st.sampled_from([1.0, 10.0, 60.0]), half_open_requests=st.integers(1, 4),
    fallback=st.just("human_review"))
# (seconds to advance, what to do): admit a call, or finish the i-th outstanding call ok / failed.
STEPS = st.lists(st.tuples(st.sampled_from([0.0, 0.0, 0.1, 0.5, 2.0, 11.0, 61.0]),
                           st.sampled_from(["admit", "ok", "fail"]), st.integers(0, 5)), max_size=80)


@settings(max_examples=400, deadline=None)
@given(cfg=CONFIGS, steps=STEPS)
def test_every_transition_follows_its_rule(cfg: BreakerConfig, steps: list[tuple[float, str, int]]) -> None:
    now = 0.0
    c = Circuit()
    outstanding: list[Ticket] = []
    fails_closed: list[float] = []  # failures recorded in the current closed generation
    probes_ok = 0
    for dt, what, i in steps:
        now += dt
        before = c
        if what == "admit":
            c, ticket = admit(c, cfg, now)
            if ticket is not None:
                outstanding.append(ticket)
            effective = OPEN if before.state == OPEN and now - before.opened_at < cfg.open_for_s else (
                HALF_OPEN if before.state in (OPEN, HALF_OPEN) else CLOSED)
            if effective == OPEN:
                assert ticket is None and c == before, "an open circuit admits nothing before openFor"
            if effective == CLOSED:
                assert ticket is not None and not ticket.probe
            if effective == HALF_OPEN:
                assert c.probes_admitted <= cfg.half_open_requests, "never more probes than halfOpenRequests"
                assert (ticket is not None) == (c.probes_admitted > (before.probes_admitted
                                                                       if before.state == HALF_OPEN else 0))
        elif outstanding:
            ticket = outstanding.pop(i % len(outstanding))
            ok = what == "ok"
            c = record(c, cfg, now, ticket, ok)
            if ticket.generation != (before.generation if before.state != OPEN or
                                     now - before.opened_at < cfg.open_for_s else before.generation + 1):
                assert c.state == before.state or c.state == HALF_OPEN, "a stale result moves nothing"
                continue
            if before.state == CLOSED:
                if not ok:
                    fails_closed.append(now)
                recent = [t for t in fails_closed if now - t < cfg.window_s]
                opened = len(recent) >= cfg.failure_threshold
                assert (c.state == OPEN) == opened, (recent, cfg)
                if opened:
                    assert c.opened_at == now and c.generation == before.generation + 1
            elif c.state != before.state and before.state == HALF_OPEN:
                if ok:
                    probes_ok += 1
                    assert c.state == CLOSED and before.probes_passed + 1 == cfg.half_open_requests
                else:
                    assert c.state == OPEN and c.opened_at == now
        if c.generation != before.generation:  # any transition starts counting afresh
            fails_closed = []
            outstanding = [t for t in outstanding if t.generation == c.generation]
        assert c.state in (CLOSED, HALF_OPEN, OPEN)
        assert len(c.failures) < cfg.failure_threshold


@settings(max_examples=200, deadline=None)
@given(cfg=CONFIGS, outages=st.lists(st.booleans(), min_size=1, max_size=200))
def test_a_dependency_that_always_fails_is_called_at_most_threshold_plus_probes_per_period(
        cfg: BreakerConfig, outages: list[bool]) -> None:
    """The point of the breaker: while a dependency is down, it is called at
    most ``failureThreshold`` times, then once per ``halfOpenRequests`` probe
    (the first probe fails and reopens it) per ``openFor`` period."""
    now, c, calls, periods = 0.0, Circuit(), 0, 0
    for _ in outages:
        now += 0.01
        c, ticket = admit(c, cfg, now)
        if ticket is None:
            continue
        calls += 1
        before = c.state
        c = record(c, cfg, now, ticket, ok=False)
        if before == HALF_OPEN:
            periods += 1
    assert calls <= cfg.failure_threshold + periods
    assert periods <= 1 + int(len(outages) * 0.01 / cfg.open_for_s)


# -------------------------------------------------------------- threads

def test_concurrent_failures_open_it_once_and_probes_stay_bounded() -> None:
    clock = FakeClock()
    seen: list[str] = []
    b = CircuitBreaker("online-store", SPEC, clock=clock, on_change=seen.append)
    barrier = threading.Barrier(16)
    admitted: list[Ticket] = []
    lock = threading.Lock()

    def fail() -> None:
        barrier.wait()
        for _ in range(50):
            t = b.admit()
            if t is not None:
                b.record(t, ok=False)

    threads = [threading.Thread(target=fail) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert b.state == OPEN and b.opened == 1 and seen == [OPEN]
    clock.t += 60

    def probe() -> None:
        barrier.wait()
        t = b.admit()
        if t is not None:
            with lock:
                admitted.append(t)

    threads = [threading.Thread(target=probe) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 3 and all(t.probe for t in admitted)
    for t in admitted:
        b.record(t, ok=True)
    assert b.state == CLOSED and seen == [OPEN, HALF_OPEN, CLOSED]


@pytest.mark.parametrize("field,value", [("failure_threshold", 0), ("window_s", 0.0), ("half_open_requests", 0)])
def test_a_config_that_could_never_work_is_refused(field: str, value: float) -> None:
    raw = SPEC.model_dump() | {field: value}
    with pytest.raises(ValueError, match=field):
        BreakerConfig.model_validate(raw)
