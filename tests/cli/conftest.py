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
NO_LIBVIRT = "qemu+unix:///system?socket=/nonexistent/libvirt-sock"


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
            # nothing may leave this machine: no cloud credentials or instance metadata, and
            # libvirt's default connection goes nowhere
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "LIBVIRT_DEFAULT_URI": NO_LIBVIRT,
        }
        env.update(extra)
        return env

    def cli(self) -> CLI:
        return CLI(self.store)

    def run_many(self, cases: list[dict[str, Any]], workers: int = 1) -> list[dict[str, Any]]:
        """Each case: {"argv": [...]} plus optional "env" (extra variables), "timeout".
        With several workers, cases run in that many runner processes at once."""
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
        shares = [full[i::workers] for i in range(workers)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.cli.runner"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            for _ in shares
        ]
        for proc, share in zip(procs, shares, strict=True):
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(share))  # each runner reads all its cases first
            proc.stdin.close()
            proc.stdin = None  # communicate() below only reads
        outputs = []
        for proc, share in zip(procs, shares, strict=True):
            out, err = proc.communicate(timeout=60 + sum(c["timeout"] for c in share))
            assert proc.returncode == 0, err
            outputs.append(json.loads(out))
        results: list[dict[str, Any]] = [None] * len(full)  # type: ignore[list-item]
        for w, output in enumerate(outputs):
            results[w::workers] = output
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
