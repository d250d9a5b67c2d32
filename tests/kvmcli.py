"""The CLI as a user runs it beside the tests' libvirtd: inside its network namespace, where
the guests are reachable (testbed.libvirt), as root or as another user with a store of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from testbed import images as test_images
from testbed import libvirt as libvirt_host
from tests.machinecli import MACHINE

IMAGE_CACHE = test_images.IMAGE_CACHE
ROOT = Path(__file__).resolve().parents[1]


class KvmCLI:
    """The CLI as a user runs it: root by default, or `user` (runuser) with a store of its own."""

    def __init__(self, store: Path, user: str = "") -> None:
        self.store = store
        self.user = user
        store.mkdir(mode=0o700)
        if not user:
            (store / "cache").symlink_to(IMAGE_CACHE)

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if (not k.startswith("DOCKER_") or k == "DOCKER_CONFIG") and k != "XDG_RUNTIME_DIR"
        }
        env.update(
            MACHINE_STORAGE_PATH=str(self.store),
            SHELL="/bin/bash",
            PATH=f"{Path(MACHINE).parent}:{os.environ['PATH']}",
        )
        if not self.user:  # the tests' own libvirtd (a user's session has its own)
            env["KVM_CONNECTION_URI"] = libvirt_host.URI
        return env

    def _as_user(self, argv: list[str]) -> list[str]:
        return libvirt_host.in_netns(
            ["runuser", "-u", self.user, "--", *argv] if self.user else argv
        )

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self._as_user([MACHINE, *args]),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=900,
            stdin=subprocess.DEVNULL,
        )
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def killed(self, point: str, *args: str) -> subprocess.CompletedProcess[str]:
        """The CLI killed with SIGKILL at `point` (tests/killpoint.py), as root."""
        return subprocess.run(
            libvirt_host.in_netns([sys.executable, "-m", "tests.killpoint", *args]),
            env={**self.env(), "MACHINE_TEST_KILL_AT": point, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=900,
            stdin=subprocess.DEVNULL,
        )

    def bash(self, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._as_user(["bash", "-euo", "pipefail", "-c", script]),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
