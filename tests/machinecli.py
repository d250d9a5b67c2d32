"""The installed `machine` command, run as a user runs it: a process with its own store."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MACHINE = str(Path(sys.executable).parent / "machine")


@dataclass
class CLI:
    store: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DOCKER_") or k == "DOCKER_CONFIG"
        }
        env["MACHINE_STORAGE_PATH"] = str(self.store)
        env.update(extra)
        return env

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 600, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [MACHINE, *args],
            capture_output=True,
            text=True,
            env=self.env(**extra),
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"machine {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def bash(self, script: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """Run `script` in bash the way a user's shell would, with `machine` on PATH."""
        env = self.env(**extra)
        env["PATH"] = f"{Path(MACHINE).parent}:{env.get('PATH', '')}"
        env["SHELL"] = "/bin/bash"
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
