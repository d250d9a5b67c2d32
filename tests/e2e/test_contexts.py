"""Docker contexts of machines, read by the real docker CLI and by docker-py: a generic machine
on a test host, reached through `docker --context`, `machine use`, `env --context` and the
context's files; kept up to date by regenerate-certs; removed by rm; a context the user made
is never touched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.machinecli import CLI

Hosts = Any  # the host_factory fixture


def _docker(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = str(config)
    return subprocess.run(
        ["docker", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_machine_s_docker_context(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str], tmp_path: Path
) -> None:
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is missing (tools/setup installs docker.io)")
    config = tmp_path / "docker-config"
    made = _docker(config, "context", "create", "mine", "--docker", "host=tcp://127.0.0.1:9")
    assert made.returncode == 0, made.stderr
    mine = {p: p.read_text() for p in (config / "contexts").rglob("meta.json")}
    host = host_factory("docker")
    cli(
        *("create", "-d", "generic", "--generic-ip-address", host.ip),
        *("--generic-ssh-key", str(ssh_key[0]), "--wait-timeout", "120", "web"),
        DOCKER_CONFIG=str(config),
    )
    url = f"tcp://{host.ip}:2376"

    listed = _docker(config, "context", "ls", "--format", "{{.Name}} {{.DockerEndpoint}}")
    assert f"web {url}" in listed.stdout.splitlines(), listed.stdout
    named = _docker(config, "--context", "web", "info", "--format", "{{.Name}}")
    assert named.stdout.strip() == "web", named.stderr

    used = cli("use", "web", DOCKER_CONFIG=str(config))
    assert 'Current context is now "web"' in used.stderr
    assert _docker(config, "context", "show").stdout.strip() == "web"
    assert _docker(config, "info", "--format", "{{.Name}}").stdout.strip() == "web"
    cli("use", "-u", DOCKER_CONFIG=str(config))
    assert _docker(config, "context", "show").stdout.strip() == "default"

    # env --context: DOCKER_CONTEXT, and DOCKER_HOST of an earlier eval unset
    shell = cli.bash(
        'eval "$(machine env web)"\n'
        'eval "$(machine env --context web)"\n'
        'echo "${DOCKER_HOST:-none} $DOCKER_CONTEXT"\n'
        'docker info --format "{{.Name}}"',
        DOCKER_CONFIG=str(config),
    )
    assert shell.stdout.split() == ["none", "web", "web"], shell.stderr

    # docker-py, from the context's own files
    import docker
    from docker.tls import TLSConfig

    digest = hashlib.sha256(b"web").hexdigest()
    meta = json.loads((config / "contexts/meta" / digest / "meta.json").read_text())
    tls = config / "contexts/tls" / digest / "docker"
    saved = {k: os.environ.pop(k, None) for k in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    try:
        client = docker.DockerClient(
            base_url=meta["Endpoints"]["docker"]["Host"].replace("tcp://", "https://"),
            tls=TLSConfig(
                client_cert=(str(tls / "cert.pem"), str(tls / "key.pem")),
                ca_cert=str(tls / "ca.pem"),
                verify=True,
            ),
        )
        assert client.info()["Name"] == "web"
        client.close()
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})

    # a new CA and client certificate: the context follows
    cli("regenerate-certs", "-f", "--client-certs", "web", DOCKER_CONFIG=str(config))
    again = _docker(config, "--context", "web", "info", "--format", "{{.Name}}")
    assert again.stdout.strip() == "web", again.stderr

    cli("use", "web", DOCKER_CONFIG=str(config))
    cli("rm", "-y", "web", DOCKER_CONFIG=str(config))
    names = _docker(config, "context", "ls", "--format", "{{.Name}}").stdout.split()
    assert "web" not in names and "mine" in names
    assert _docker(config, "context", "show").stdout.strip() == "default"
    assert {p: p.read_text() for p in mine} == mine
    refused = cli("use", "mine", check=False, DOCKER_CONFIG=str(config))
    assert refused.returncode == 1
