"""Docker contexts in the docker CLI's own store format (the real docker CLI reads them in
tests/e2e/test_contexts.py): paths, modes, ownership, and the current context."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from machine.docker import contexts
from machine.errors import MachineError


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "docker"
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    return folder


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    folder = tmp_path / "machine-dir"
    folder.mkdir()
    for name in contexts.TLS_FILES:
        (folder / name).write_text(f"-----{name}-----\n")
    return folder


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_context_in_the_docker_clis_layout(docker_config: Path, certs: Path) -> None:
    store = Path("/stores/one")
    assert contexts.write("web", "tcp://10.0.0.5:2376", certs, store)
    digest = hashlib.sha256(b"web").hexdigest()
    meta = json.loads((docker_config / "contexts/meta" / digest / "meta.json").read_text())
    assert meta == {
        "Name": "web",
        "Metadata": {"Description": 'machine "web"', "MachineStore": "/stores/one"},
        "Endpoints": {"docker": {"Host": "tcp://10.0.0.5:2376", "SkipTLSVerify": False}},
    }
    tls = docker_config / "contexts/tls" / digest / "docker"
    for name in contexts.TLS_FILES:
        assert (tls / name).read_text() == f"-----{name}-----\n"
        assert _mode(tls / name) == 0o600
    for folder in (docker_config, tls, tls.parent, docker_config / "contexts/meta" / digest):
        assert _mode(folder) == 0o700
    # an update (a new address, new certificates) rewrites both
    (certs / "cert.pem").write_text("new\n")
    assert contexts.write("web", "tcp://10.0.0.6:2376", certs, store)
    assert (tls / "cert.pem").read_text() == "new\n"
    assert contexts.read_meta("web")["Endpoints"]["docker"]["Host"] == "tcp://10.0.0.6:2376"  # type: ignore[index]


def test_a_context_that_is_not_ours_is_left_alone(docker_config: Path, certs: Path) -> None:
    assert contexts.write("web", "tcp://10.0.0.5:2376", certs, Path("/stores/other"))
    before = contexts.meta_file("web").read_text()
    assert not contexts.write("web", "tcp://10.0.0.9:2376", certs, Path("/stores/one"))
    assert not contexts.remove("web", Path("/stores/one"))
    assert contexts.meta_file("web").read_text() == before
    # one the user made with `docker context create` has no marker at all
    user = contexts.meta_file("mine")
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps({"Name": "mine", "Metadata": {}, "Endpoints": {}}))
    assert contexts.owner("mine") == ""
    assert not contexts.write("mine", "tcp://10.0.0.5:2376", certs, Path("/stores/one"))
    assert not contexts.write("default", "tcp://10.0.0.5:2376", certs, Path("/stores/one"))


def test_current_context_keeps_the_rest_of_config_json(docker_config: Path, certs: Path) -> None:
    docker_config.mkdir()
    config = docker_config / "config.json"
    config.write_text(json.dumps({"auths": {"registry.example": {"auth": "x"}}}))
    config.chmod(0o644)
    store = Path("/stores/one")
    contexts.write("web", "tcp://10.0.0.5:2376", certs, store)
    assert contexts.current() == "default"
    contexts.use("web")
    data = json.loads(config.read_text())
    assert data == {"auths": {"registry.example": {"auth": "x"}}, "currentContext": "web"}
    assert _mode(config) == 0o644
    assert contexts.current() == "web"
    # removing the current context sends the docker CLI back to its default
    assert contexts.remove("web", store)
    assert contexts.current() == "default"
    assert "currentContext" not in json.loads(config.read_text())
    assert not contexts.meta_file("web").parent.exists()
    assert not contexts.tls_dir("web").exists()


def test_a_damaged_config_json_is_named(docker_config: Path) -> None:
    docker_config.mkdir()
    (docker_config / "config.json").write_text("{not json")
    with pytest.raises(MachineError, match="cannot be read as JSON"):
        contexts.use("web")
