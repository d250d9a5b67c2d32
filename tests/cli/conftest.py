"""Fixtures for CLI tests: a sandbox folder per test (store, home, working folder, a victim
folder that must survive, a canary path that must never appear) and a fast way to run many
command lines as real processes (tests/cli/runner.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.machinecli import CLI

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.cli)


@dataclass
class Sandbox:
    root: Path
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def cwd(self) -> Path:
        return self.root / "cwd"

    @property
    def victim(self) -> Path:
        """A folder of the user's that no command may touch."""
        return self.root / "victim"

    @property
    def canary(self) -> Path:
        """A path that hostile input tries to create; it must never exist."""
        return self.root / "canary"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.home),
            "MACHINE_STORAGE_PATH": str(self.store),
            "SHELL": "/bin/bash",
            "LANG": "C.UTF-8",
            "USER": "tester",
        }
        env.update(extra)
        return env

    def cli(self) -> CLI:
        return CLI(self.store)

    def run_many(self, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each case: {"argv": [...]} plus optional "env" (extra variables), "timeout"."""
        full = [
            {
                "argv": c["argv"],
                "env": self.env(**c.get("env", {})),
                "cwd": str(self.cwd),
                "timeout": c.get("timeout", 30),
                "prog": c.get("prog", "machine"),
            }
            for c in cases
        ]
        proc = subprocess.run(
            [sys.executable, "-m", "tests.cli.runner"],
            input=json.dumps(full),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60 + sum(c["timeout"] for c in full),
        )
        assert proc.returncode == 0, proc.stderr
        results: list[dict[str, Any]] = json.loads(proc.stdout)
        return results

    def outside_store(self) -> dict[str, tuple[int, int]]:
        """Every path in the sandbox but the store, with its mode and size."""
        found: dict[str, tuple[int, int]] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            top = Path(dirpath)
            if top == self.root and "store" in dirnames:
                dirnames.remove("store")
            for name in dirnames + filenames:
                path = top / name
                st = path.lstat()
                found[str(path.relative_to(self.root))] = (st.st_mode, st.st_size)
        return found


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path)
    for folder in (box.home, box.cwd, box.victim):
        folder.mkdir()
    (box.victim / "precious.txt").write_text("keep me\n")
    yield box
    assert not box.canary.exists(), "hostile input ran a command"
