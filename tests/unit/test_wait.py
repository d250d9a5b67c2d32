"""machine.wait.attempts: the back-off every wait uses, on a fake clock."""

from __future__ import annotations

from machine.wait import attempts


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_pauses_grow_to_the_cap_and_stop_at_the_deadline() -> None:
    clock = Clock()
    tries = list(attempts(clock.now + 10, first=1.0, cap=3.0, clock=clock, sleep=clock.sleep))
    assert clock.slept == [1.0, 2.0, 3.0, 3.0, 1.0]  # the last pause ends at the deadline
    assert len(tries) == 6  # one attempt at the start, one after each pause
    assert tries[0] == 10.0 and tries[-1] == 0.0


def test_one_attempt_is_made_even_past_the_deadline() -> None:
    clock = Clock()
    assert list(attempts(clock.now - 5, clock=clock, sleep=clock.sleep)) == [0.0]
    assert clock.slept == []


def test_pause_first_waits_before_the_first_attempt() -> None:
    clock = Clock()
    gen = attempts(clock.now + 10, first=0.5, pause_first=True, clock=clock, sleep=clock.sleep)
    next(gen)
    assert clock.slept == [0.5]


def test_a_loop_that_succeeds_stops_sleeping() -> None:
    clock = Clock()
    for n, _ in enumerate(attempts(clock.now + 60, clock=clock, sleep=clock.sleep)):
        if n == 2:
            break
    assert clock.slept == [0.2, 0.4]
