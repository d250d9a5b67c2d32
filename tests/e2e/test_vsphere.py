"""The vmwarevsphere driver end to end, as users run it: `machine create -d vmwarevsphere`
against vcsim (govmomi's simulator of the vSphere API, built here), whose VM runs as a container
of a private dockerd: Debian with systemd, sshd, cloud-init and the engine. cloud-init's VMware
data source applies the driver's guestinfo seed for real (login key, pinned host key, host
name); then SSH, provisioning, `eval $(machine env)` and `docker run` are real too.

The VM is made a container through the ordinary `--vmwarevsphere-cfgparam` flag
(`RUN.container`): the driver has no test-only path. What vcsim does not prove: that ESXi
boots the imported disk (test_image_boot.py boots machine-os's exports by firmware)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed import images as test_images
from testbed import vcsim
from tests.machinecli import CLI
from tests.vsphere import create_args


@pytest.fixture(scope="module")
def vsphere(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    for tool in ("go", "dockerd", "docker", "mmdebstrap"):
        if shutil.which(tool) is None:
            why = f"vSphere tests need {tool} (tools/setup installs it)"
            if os.environ.get("CI"):
                pytest.fail(why)
            pytest.skip(why)
    test_images.built()  # machine-os, which the driver imports as an OVA
    work = tmp_path_factory.mktemp("vsphere")
    with vcsim.dockerd(work / "docker") as host:
        image = vcsim.guest_image(host)
        network = vcsim.guest_network(host)
        with vcsim.running(work / "vcsim", docker_host=host) as ep:
            yield {"ep": ep, "image": image, "network": network, "docker": host}


class VSphereCLI(CLI):
    """The CLI with the password a user gives on each command (never in the store), and the
    tests' machine-os cache."""

    def __init__(self, store: Path, ep: Any) -> None:
        super().__init__(store)
        store.mkdir(mode=0o700)
        (store / "cache").symlink_to(test_images.IMAGE_CACHE)
        self.ep = ep

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in super().env(**extra).items() if not k.startswith("VSPHERE_")}
        env["VSPHERE_PASSWORD"] = self.ep.password
        return env

    def create(self, name: str, ip: str, guest: str, network: str, *extra: str) -> Any:
        return self(
            *create_args(self.ep),
            *("--vmwarevsphere-cfgparam", vcsim.guest_param(guest, name, network, ip)),
            *("--wait-timeout", "600"),
            *extra,
            name,
            timeout=900,
        )


def test_vsphere_machine_lifecycle(vsphere: dict[str, Any], tmp_path: Path, busybox: Path) -> None:
    cli = VSphereCLI(tmp_path / "store", vsphere["ep"])
    own = tmp_path / "user-data.yaml"  # the user's own cloud-init, merged with the seed
    own.write_text("#cloud-config\nwrite_files:\n- {path: /etc/from-the-user, content: hello}\n")
    created = cli.create(
        "vs1",
        "10.234.1.10",
        vsphere["image"],
        vsphere["network"],
        *("--vmwarevsphere-cloudinit", str(own)),
    )
    assert "Docker is up and running!" in created.stderr
    assert cli("ip", "vs1").stdout.strip() == "10.234.1.10"
    record = json.loads((cli.store / "machines/vs1/config.json").read_text())
    assert "Password" not in record["Driver"] and vsphere["ep"].password not in json.dumps(record)
    assert record["Driver"]["MachineId"]

    out = cli.bash(
        'eval "$(machine env vs1)"\n'
        f"docker import {busybox} vs/busybox >/dev/null\n"
        "docker run --rm vs/busybox /bin/busybox echo from-vsphere"
    )
    assert out.stdout.strip() == "from-vsphere", out.stderr
    assert cli("ssh", "vs1", "hostname").stdout.strip() == "vs1"
    assert cli("ssh", "vs1", "cat /etc/from-the-user").stdout.strip() == "hello"
    secret = vsphere["ep"].password.encode()
    assert not any(secret in p.read_bytes() for p in cli.store.rglob("*") if p.is_file())

    assert 'Machine "vs1" was stopped.' in cli("stop", "vs1").stderr
    assert cli("status", "vs1").stdout.strip() == "Stopped"
    cli("start", "vs1")
    again = cli.bash('eval "$(machine env vs1)"; docker info --format "{{.Name}}"')
    assert again.stdout.strip() == "vs1", again.stderr
    cli("kill", "vs1")
    assert cli("status", "vs1").stdout.strip() == "Stopped"
    cli("restart", "vs1")
    assert cli("status", "vs1").stdout.strip() == "Running"

    cli("rm", "-y", "vs1")
    assert not (cli.store / "machines/vs1").exists()
    containers = subprocess.run(
        ["docker", "-H", vsphere["docker"], "ps", "-aq", "--filter", "name=vcsim-vs1-"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert containers.stdout.strip() == ""  # the VM, and with it its container, is gone
