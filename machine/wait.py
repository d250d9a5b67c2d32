"""Waiting for something with a deadline and back-off: the one loop every wait in machine uses
(SSH coming up, a state, the engine, a lock, a DHCP lease, an instance's address).

    for _ in attempts(deadline):
        if ready():
            return
    raise TimedOut(...)

The first attempt is made at once, and always (however late it is); the pauses between
attempts grow from `first` by `factor` up to `cap`, and never run past the deadline. The loop
ends after the first attempt made at or after the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator


def attempts(
    deadline: float,
    first: float = 0.2,
    cap: float = 3.0,
    factor: float = 2.0,
    pause_first: bool = False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[float]:
    """Yield once per attempt, with the seconds left until `deadline` (time.monotonic()).
    With `pause_first`, wait `first` before the first attempt too (a reboot just asked for)."""
    delay = first
    if pause_first:
        sleep(max(0.0, min(delay, deadline - clock())))
    while True:
        yield max(0.0, deadline - clock())
        remaining = deadline - clock()
        if remaining <= 0:
            return
        sleep(min(delay, remaining))
        delay = min(delay * factor, cap)
