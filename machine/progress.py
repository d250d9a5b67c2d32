"""Create/provision progress on stderr: one line per phase, with how long each phase took.

stdout stays clean for what scripts parse. On a terminal a rich spinner shows the running phase
and its elapsed time; elsewhere (CI logs, pipes) plain lines.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, quiet: bool = False, prefix: str = "") -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.prefix = prefix  # "(name) " when several machines report at once
        self.timings: list[tuple[str, float]] = []
        self._current: str | None = None
        self._started = time.monotonic()
        self._phase_started = self._started
        self._status: Any = None
        self._console: Any = None
        if not quiet and not prefix and self.stream.isatty():
            from rich.console import Console

            self._console = Console(file=self.stream)

    def phase(self, message: str) -> None:
        """Start a new phase; the previous one's time is recorded."""
        self._close_phase()
        self._current = message
        self._phase_started = time.monotonic()
        if self.quiet:
            return
        if self._console is not None:
            if self._status is None:
                self._status = self._console.status(message)
                self._status.start()
            else:
                self._status.update(message)
            self._console.print(message, highlight=False)
        else:
            print(f"{self.prefix}{message}", file=self.stream, flush=True)

    def note(self, message: str) -> None:
        if not self.quiet:
            print(f"{self.prefix}{message}", file=self.stream, flush=True)

    def _close_phase(self) -> None:
        if self._current is not None:
            self.timings.append((self._current, time.monotonic() - self._phase_started))
            self._current = None

    def finish(self) -> None:
        self._close_phase()
        if self._status is not None:
            self._status.stop()
            self._status = None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def summary(self) -> str:
        parts = ", ".join(f"{_short(m)} {t:.1f}s" for m, t in self.timings if t >= 0.05)
        return f"{self.elapsed:.1f}s" + (f": {parts}" if parts else "")


def _short(message: str) -> str:
    return message.rstrip(".").split(" with ")[0].lower()
