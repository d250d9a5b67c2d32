"""The remote host as provisioning sees it: run a command as root, put a file as root.

`Remote` is the seam: an ssh.Connection in production, machine.testing.ScriptedRemote in tests.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Protocol

from machine.errors import ProvisionError
from machine.ssh import Result, quote


class Remote(Protocol):
    def run(self, command: str, stdin: bytes = b"", timeout: float = ...) -> Result: ...

    def put(self, path: str, data: bytes, mode: int) -> None: ...


@dataclass
class RootShell:
    """Runs commands as root: directly when logged in as root, else through `sudo -n`."""

    remote: Remote
    is_root: bool
    transcript: list[str] = field(default_factory=list)
    _made_dirs: set[str] = field(default_factory=set)

    def wrap(self, command: str) -> str:
        if self.is_root:
            return command
        return f"sudo -n sh -c {quote(command)}"

    def run(self, command: str) -> Result:
        self.transcript.append(command)
        return self.remote.run(self.wrap(command))

    def check(self, command: str, what: str) -> Result:
        result = self.run(command)
        if not result.ok:
            tail = (result.stderr.strip() or result.stdout.strip())[-800:]
            raise ProvisionError(f"{what} failed (exit {result.code}): {tail}")
        return result

    def put(self, path: str, data: bytes, mode: int) -> None:
        """Write a root-owned file atomically (SFTP as root, or via a private temp file + sudo)."""
        self.transcript.append(f"put {path} {mode:04o}")
        parent = posixpath.dirname(path)
        if self.is_root:
            if parent not in self._made_dirs:
                self.remote.run(f"mkdir -p {quote(parent)}")
                self._made_dirs.add(parent)
            self.remote.put(path, data, mode)
            return
        tmp = self.remote.run("mktemp -d").stdout.strip()
        if not tmp.startswith("/"):
            raise ProvisionError("could not make a temporary folder on the host (mktemp -d)")
        staged = f"{tmp}/{posixpath.basename(path)}"
        try:
            self.remote.put(staged, data, 0o600)
            self.check(
                f"mkdir -p {quote(parent)} && install -m {mode:04o} -o root -g root "
                f"{quote(staged)} {quote(path)}",
                f"installing {path}",
            )
        finally:
            self.remote.run(f"rm -rf {quote(tmp)}")
