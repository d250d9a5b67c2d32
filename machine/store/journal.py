"""The create journal: the phase a machine is in and every resource made for it, on disk.

Written atomically at each change, so after a crash (or on `rm`) we know exactly what exists.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from machine.store import paths
from machine.store.files import PRIVATE_FILE, fsync_dir, write_atomic

CREATING = "creating"
READY = "ready"
FAILED = "failed"


class Journal:
    """A create's progress on disk: its phase, its step, and what it has made so far."""

    __slots__ = ("path", "phase", "resources", "step")

    def __init__(
        self,
        path: Path,
        phase: str = CREATING,
        step: str = "",
        resources: list[dict[str, str]] | None = None,
    ) -> None:
        self.path = path
        self.phase = phase
        self.step = step
        self.resources: list[dict[str, str]] = resources if resources is not None else []

    @classmethod
    def start(cls, machine_dir: Path) -> Journal:
        journal = cls(machine_dir / paths.JOURNAL)
        journal.save()
        return journal

    @classmethod
    def read(cls, machine_dir: Path | str) -> Journal | None:
        path = os.path.join(machine_dir, paths.JOURNAL)  # text: `ls` reads one per machine
        try:
            with open(path, encoding="utf-8") as f:
                data = json.loads(f.read())
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        return cls(
            Path(path),
            phase=str(data.get("phase", "")),
            step=str(data.get("step", "")),
            resources=list(data.get("resources", [])),
        )

    def record(self, kind: str, ident: str) -> None:
        self.resources.append({"kind": kind, "id": ident})
        self.save()

    def at(self, step: str) -> None:
        self.step = step
        self.save()

    def finish(self, phase: str) -> None:
        """The create is over. A ready machine's journal is removed: no journal means ready
        to every reader (as in a docker-machine store), and `ls` then reads one file per
        machine instead of two. A failed create's journal stays, listing what it made."""
        self.phase = phase
        if phase != READY:
            self.save()
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            return
        fsync_dir(self.path.parent)

    def save(self) -> None:
        data = {
            "phase": self.phase,
            "step": self.step,
            "pid": os.getpid(),
            "resources": self.resources,
        }
        write_atomic(self.path, json.dumps(data, indent=2) + "\n", PRIVATE_FILE)
