"""Finds drivers through the `machine.drivers` entry-point group and imports them on first use.

Bundled and third-party drivers are found the same way. A plugin that fails to import is
reported as a warning (with the reason) and left out; it never stops other commands.

Entry points are read straight from the `entry_points.txt` of each distribution on sys.path:
importing importlib.metadata alone costs ~25 ms, a quarter of `machine env`'s budget. Anything
that reader misses (an unusual installation) is looked up through importlib.metadata before a
driver is reported missing.
"""

from __future__ import annotations

import importlib
import os
import sys

from machine.driver import Driver
from machine.errors import CorruptRecord, DriverLoadError, DriverNotFound, DriverUnavailable
from machine.store.record import HostRecord

GROUP = "machine.drivers"


class EntryPoint:
    __slots__ = ("name", "value")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value  # "module:attr"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EntryPoint) and (self.name, self.value) == (
            other.name,
            other.value,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.value))

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r})"

    def load(self) -> object:
        module, _, attr = self.value.partition(":")
        obj: object = importlib.import_module(module.strip())
        for part in attr.strip().split(".") if attr.strip() else []:
            obj = getattr(obj, part)
        return obj


def read_entry_points(group: str, path: list[str] | None = None) -> dict[str, EntryPoint]:
    """Entry points of `group` from every *.dist-info / *.egg-info on `path` (first one wins)."""
    found: dict[str, EntryPoint] = {}
    for entry in path if path is not None else sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in sorted(names):
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(entry, name, "entry_points.txt")) as fh:
                    text = fh.read()
            except OSError:
                continue
            for ep_name, value in _section(text, group):
                found.setdefault(ep_name, EntryPoint(ep_name, value))
    return found


def _section(text: str, group: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
        elif current == group and "=" in line:
            key, _, value = line.partition("=")
            out.append((key.strip(), value.strip()))
    return out


def _from_importlib_metadata(group: str) -> dict[str, EntryPoint]:
    from importlib.metadata import entry_points

    return {ep.name: EntryPoint(ep.name, ep.value) for ep in entry_points(group=group)}


class Registry:
    """The drivers installed, found from their entry points and imported on first use."""

    def __init__(
        self,
        _entry_points: dict[str, EntryPoint] | None = None,
        _loaded: dict[str, type[Driver]] | None = None,
    ) -> None:
        self._entry_points = _entry_points
        self._loaded: dict[str, type[Driver]] = dict(_loaded or {})
        self.broken: dict[str, str] = {}  # name -> why it failed to load

    def _eps(self) -> dict[str, EntryPoint]:
        if self._entry_points is None:
            self._entry_points = read_entry_points(GROUP)
        return self._entry_points

    def names(self) -> list[str]:
        return sorted(self._eps())

    def get(self, name: str) -> type[Driver]:
        if name in self._loaded:
            return self._loaded[name]
        ep = self._eps().get(name)
        if ep is None:
            ep = _from_importlib_metadata(GROUP).get(name)
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

    def usable(self, name: str) -> type[Driver]:
        """The driver class, when it can also work here: its SDK is installed."""
        cls = self.get(name)
        missing = cls.missing_sdk()
        if missing:
            raise DriverUnavailable(name, missing, cls.extra)
        return cls

    def usable_names(self) -> list[str]:
        """Installed drivers that load and have their SDK (the local default is one of these)."""
        return [n for n, cls in self.load_all(warn=False).items() if not cls.missing_sdk()]

    def driver(self, record: HostRecord, where: str) -> Driver:
        """The live driver of a stored machine (`where`: its config.json, for errors)."""
        from machine.shape import ShapeError

        cls = self.usable(record.DriverName)
        try:
            return cls.from_json(record.Driver)
        except ShapeError as exc:
            raise CorruptRecord(where, str(exc)) from None

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
