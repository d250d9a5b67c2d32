"""What CI autoscalers do, shelling out to `docker-machine` (a link to machine), on real hosts.

Flags come from environment variables as autoscalers pass them; reachability is probed with
`config`; machines are listed by reading the store directory; messages name docker-machine.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.machinecli import MACHINE

Hosts = Any


def test_autoscaler_cycle(host_factory: Hosts, ssh_key: tuple[Path, str], tmp_path: Path) -> None:
    host = host_factory("docker")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker-machine").symlink_to(MACHINE)
    store = tmp_path / "store"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DOCKER_") or k == "DOCKER_CONFIG"
    }
    env.update(
        PATH=f"{bin_dir}:{env['PATH']}",
        MACHINE_STORAGE_PATH=str(store),
        MACHINE_DRIVER="generic",
        GENERIC_IP_ADDRESS=host.ip,
        GENERIC_SSH_KEY=str(ssh_key[0]),
        GENERIC_SSH_USER="root",
    )

    def dm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["docker-machine", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    name = "runner-abc123-auto-1"
    created = dm("create", "--engine-label", "runner=yes", name)
    assert f"run: docker-machine env {name}" in created.stderr
    assert dm("provision", name).returncode == 0
    assert dm("ip", name).stdout.strip() == host.ip
    assert dm("url", name).stdout.strip() == f"tcp://{host.ip}:2376"
    assert dm("status", name).stdout.strip() == "Running"
    # `config` is the reachability probe: its exit code, and its flags fed to the docker CLI
    # (one per line, values quoted as docker-machine printed them: eval takes the quotes off)
    script = (
        f"flags=$(docker-machine config {name}) && "
        "eval \"docker $(echo $flags) version --format '{{.Server.Os}}'\""
    )
    probe = subprocess.run(
        ["bash", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.strip() == "linux", probe.stderr
    ip = dm("inspect", name, "-f", "{{.Driver.IPAddress}}").stdout.strip()
    assert ip == host.ip
    labels = json.loads(
        dm("inspect", "-f", "{{json .HostOptions.EngineOptions.Labels}}", name).stdout
    )
    assert labels == ["runner=yes"]
    assert sorted(p.name for p in (store / "machines").iterdir() if not p.name.startswith(".")) == [
        name
    ]
    assert dm("ls", "-q", "--filter", "state=Running").stdout.split() == [name]
    missing = dm("status", "runner-gone", check=False)
    assert missing.returncode == 4
    assert 'Use "docker-machine ls" to list machines.' in missing.stderr
    assert dm("rm", "-y", name).returncode == 0
    assert not (store / "machines" / name).exists()
