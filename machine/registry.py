"""Finds drivers through the `machine.drivers` entry-point group and imports them on first use.

Bundled and third-party drivers are found the same way. A plugin that fails to import is
reported as a warning (with the reason) and left out; it never stops other commands.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from machine.driver import Driver
from machine.errors import DriverLoadError, DriverNotFound

GROUP = "machine.drivers"


@dataclass
class Registry:
    _entry_points: dict[str, EntryPoint] | None = None
    _loaded: dict[str, type[Driver]] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # name -> why it failed to load

    def _eps(self) -> dict[str, EntryPoint]:
        if self._entry_points is None:
            self._entry_points = {ep.name: ep for ep in entry_points(group=GROUP)}
        return self._entry_points

    def names(self) -> list[str]:
        return sorted(self._eps())

    def get(self, name: str) -> type[Driver]:
        if name in self._loaded:
            return self._loaded[name]
        ep = self._eps().get(name)
        if ep is None:
            raise DriverNotFound(name, self.names())
        try:
            cls = ep.load()
        except Exception as exc:  # a plugin can fail in any way on import; report, don't crash
            why = f"{type(exc).__name__}: {exc}"
            self.broken[name] = why
            raise DriverLoadError(
                f'Driver "{name}" is installed but cannot be loaded: {why}',
                hint=f"Reinstall the package that provides it ({ep.value}).",
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, Driver)):
            why = f"{ep.value} is not a machine.driver.Driver subclass"
            self.broken[name] = why
            raise DriverLoadError(f'Driver "{name}" is broken: {why}')
        self._loaded[name] = cls
        return cls

    def load_all(self, warn: bool = True) -> dict[str, type[Driver]]:
        """Every driver that imports; broken ones are warned about on stderr and skipped."""
        out: dict[str, type[Driver]] = {}
        for name in self.names():
            try:
                out[name] = self.get(name)
            except DriverLoadError as exc:
                if warn:
                    print(f"Warning: {exc.message}", file=sys.stderr)
        return out


_default: Registry | None = None


def default_registry() -> Registry:
    global _default
    if _default is None:
        _default = Registry()
    return _default
