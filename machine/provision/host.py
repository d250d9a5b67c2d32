"""The remote host as provisioning sees it: run a command as root, put a file as root.

`Remote` is the seam: an ssh.Connection in production, machine.testing.ScriptedRemote in tests.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Protocol

from machine.errors import ProvisionError
from machine.remote.ssh import Result, quote


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
        self.put_all({path: (data, mode)})

    def put_all(self, files: dict[str, tuple[bytes, int]]) -> None:
        """Write root-owned files: as root straight over SFTP; else staged in one private temp
        folder and installed by one root command (each sudo round trip costs, and sudo can be
        slow on a fresh host: it looks up the host name)."""
        if not files:
            return
        for path, (_, mode) in files.items():
            self.transcript.append(f"put {path} {mode:04o}")
        if self.is_root:
            for path, (data, mode) in files.items():
                parent = posixpath.dirname(path)
                if parent not in self._made_dirs:
                    self.remote.run(f"mkdir -p {quote(parent)}")
                    self._made_dirs.add(parent)
                self.remote.put(path, data, mode)
            return
        tmp = self.remote.run("mktemp -d").stdout.strip()
        if not tmp.startswith("/"):
            raise ProvisionError("could not make a temporary folder on the host (mktemp -d)")
        try:
            installs = []
            for i, (path, (data, mode)) in enumerate(files.items()):
                staged = f"{tmp}/{i}-{posixpath.basename(path)}"
                self.remote.put(staged, data, 0o600)
                installs.append(
                    f"mkdir -p {quote(posixpath.dirname(path))} && install -m {mode:04o} "
                    f"-o root -g root {quote(staged)} {quote(path)}"
                )
            self.check(" && ".join(installs), "installing " + ", ".join(files))
        finally:
            self.remote.run(f"rm -rf {quote(tmp)}")
