"""A docker-machine store (hand-written, RSA certificates) driving a real host."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from tests.machinecli import MACHINE
from tests.storefixture import make_dm_store

Hosts = Any


def test_existing_generic_machine_keeps_working(
    host_factory: Hosts, ssh_key: tuple[Path, str], tmp_path: Path, busybox: Path
) -> None:
    host = host_factory("docker")
    store = make_dm_store(tmp_path / "dm", host_ip=host.ip, ssh_key=ssh_key[0])
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DOCKER_") or k == "DOCKER_CONFIG"
    }
    env.update(MACHINE_STORAGE_PATH=str(store), SHELL="/bin/bash")
    env["PATH"] = f"{Path(MACHINE).parent}:{env['PATH']}"

    def machine(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MACHINE, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )

    server_cert = (store / "machines/dm-generic/server.pem").read_bytes()
    # docker-machine pinned no host key: the first contact pins it, OpenSSH then checks it
    ssh = machine("ssh", "dm-generic", "hostname")
    assert ssh.returncode == 0, ssh.stderr
    assert (store / "machines/dm-generic/known_hosts").exists()
    # provisioning installs the machine's existing RSA server certificate as it is
    provisioned = machine("provision", "dm-generic")
    assert provisioned.returncode == 0, provisioned.stderr
    assert (store / "machines/dm-generic/server.pem").read_bytes() == server_cert
    out = subprocess.run(
        [
            "bash",
            "-euc",
            'eval "$(machine env dm-generic)"\n'
            f"docker import {busybox} dm/busybox >/dev/null\n"
            "docker run --rm dm/busybox /bin/busybox echo from-docker-machine-store",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.stdout.strip() == "from-docker-machine-store", out.stderr
    assert machine("rm", "-y", "dm-generic").returncode == 0
    assert not (store / "machines/dm-generic").exists()
