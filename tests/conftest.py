"""Shared fixtures. Unit tests (no marker) may not open sockets or start processes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# machine writes a docker context per machine into the docker CLI's config ($DOCKER_CONFIG,
# else ~/.docker): the tests' machines get a folder of their own, never the user's. Test
# environments that drop DOCKER_* variables keep this one.
_USERS_CONTEXTS = Path.home() / ".docker" / "contexts" / "meta"
DOCKER_CONFIG = Path(tempfile.mkdtemp(prefix="machine-tests-docker-"))
os.environ["DOCKER_CONFIG"] = str(DOCKER_CONFIG)


def _contexts(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


_CONTEXTS_BEFORE = _contexts(_USERS_CONTEXTS)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No test may have written a context into the user's own docker config."""
    shutil.rmtree(DOCKER_CONFIG, ignore_errors=True)
    added = _contexts(_USERS_CONTEXTS) - _CONTEXTS_BEFORE
    if added:
        print(f"\nFAILED: tests wrote docker contexts into {_USERS_CONTEXTS}: {sorted(added)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class NetworkInUnitTest(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _unit_tests_stay_local(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    markers = {m.name for m in request.node.iter_markers()}
    if markers & {"backend", "e2e", "cli"}:
        yield
        return

    def refuse(*args: object, **kwargs: object) -> None:
        raise NetworkInUnitTest("unit tests may not use the network or start processes")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    yield


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    return tmp_path / "store"
