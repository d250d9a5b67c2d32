"""Fixtures for end-to-end tests: test hosts, an SSH key, a private store, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from machine import certs
from tests.e2e.hosts import TestHost, busybox_tarball, prerequisites_missing

MACHINE = str(Path(sys.executable).parent / "machine")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def _prereqs() -> None:
    missing = prerequisites_missing()
    if missing:
        why = f"e2e tests need {', '.join(missing)} (tools/setup installs them)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    private, public = certs.ssh_keypair()
    path = tmp_path_factory.mktemp("key") / "id_ed25519"
    path.write_bytes(private)
    path.chmod(0o600)
    path.with_suffix(".pub").write_text(public + "\n")
    return path, public


@pytest.fixture(scope="session")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return busybox_tarball(tmp_path_factory.mktemp("img"))


@dataclass
class CLI:
    store: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
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


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    return CLI(tmp_path / "store")


_next_index = iter(range(11, 250))


@pytest.fixture
def host_factory(_prereqs: None, ssh_key: tuple[Path, str]) -> Iterator[object]:
    made: list[TestHost] = []

    def make(variant: str = "docker") -> TestHost:
        index = next(_next_index)
        host = TestHost(name=f"mt-host{index}", index=index, variant=variant)
        made.append(host)
        host.boot(ssh_key[1])
        return host

    yield make
    for host in made:
        host.cleanup()
