"""Shared fixtures. Unit tests (no marker) may not open sockets or start processes."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


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
