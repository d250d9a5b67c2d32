"""The virtualbox driver end to end, against the VBoxManage simulator (testbed/vboxsim.py):
VirtualBox cannot be installed here, so `VBoxManage` on PATH is the simulator, whose `startvm`
boots machine-os (converted to VDI) with QEMU under software emulation, by BIOS, from the
SATA disk, with the seed on the SATA DVD, NAT as QEMU user networking with the SSH forward,
and the host-only network as a bridge with dnsmasq applying the driver's DHCP reservation.

Everything runs in a network namespace of this module's own (`mvbox`): the host-only bridges
and dnsmasq live there, and the CLI runs there to reach 127.0.0.1's forwards and the host-only
addresses. Nothing outside it is touched; QEMU and dnsmasq are stopped by the PIDs the
simulator recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testbed import images as test_images
from testbed import vboxsim
from tests.machinecli import MACHINE

NETNS = "mvbox"
ROOT = Path(__file__).resolve().parents[2]
DM_STORE = ROOT / "tests/fixtures/dm-store"
CREATE = ["create", "-d", "virtualbox", "--virtualbox-no-vtx-check", "--wait-timeout", "600"]


def _netns(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", *argv], capture_output=True, text=True, check=check)


def _remove_netns() -> None:
    """The namespace of this module (or of an earlier run of it), with what still runs in it."""
    if NETNS not in _netns("list").stdout.split():
        return
    for pid in _netns("pids", NETNS, check=False).stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), 9)
    _netns("delete", NETNS)


@dataclass
class VBox:
    work: Path
    bin: Path
    home: Path  # VBOX_USER_HOME: the simulator's registry
    store: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DOCKER_", "VBOX")) or k == "DOCKER_CONFIG"
        }
        env.update(
            PATH=f"{self.bin}:{Path(MACHINE).parent}:{os.environ['PATH']}",
            VBOX_USER_HOME=str(self.home),
            MACHINE_STORAGE_PATH=str(self.store),
            SHELL="/bin/bash",
        )
        env.update(extra)
        return env

    def run(self, argv: list[str], **extra: str) -> Any:
        return subprocess.run(
            ["ip", "netns", "exec", NETNS, *argv],
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=900,
            stdin=subprocess.DEVNULL,
        )

    def __call__(self, *args: str, check: bool = True, **extra: str) -> Any:
        result = self.run([MACHINE, *args], **extra)
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["ip", "netns", "exec", NETNS, MACHINE, *args],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    def killed(self, point: str, *args: str) -> Any:
        """The CLI killed with SIGKILL at `point` (tests/killpoint.py)."""
        return self.run(
            [sys.executable, "-m", "tests.killpoint", *args],
            MACHINE_TEST_KILL_AT=point,
            PYTHONPATH=str(ROOT),
        )

    def bash(self, script: str) -> Any:
        return self.run(["bash", "-euo", "pipefail", "-c", script])

    def vboxmanage(self, *args: str) -> str:
        result = self.run([str(self.bin / "VBoxManage"), *args])
        assert result.returncode == 0, (args, result.stderr)
        return str(result.stdout)

    def registry(self) -> dict[str, Any]:
        path = self.home / "registry.json"
        data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        return data

    def calls(self) -> list[list[str]]:
        path = self.home / "calls.log"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def links(self) -> list[str]:
        out = self.run(["ip", "-o", "link", "show"]).stdout
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


@pytest.fixture(scope="module")
def vbox_netns(_prereqs: None) -> Iterator[None]:
    for tool in ("qemu-system-x86_64", "qemu-img", "dnsmasq", "ip"):
        if shutil.which(tool) is None:
            why = f"virtualbox tests need {tool} (tools/setup installs it)"
            if os.environ.get("CI"):
                pytest.fail(why)
            pytest.skip(why)
    test_images.built()  # machine-os, cached; each store converts it to VDI once (cached too)
    _remove_netns()
    _netns("add", NETNS)
    try:
        subprocess.run(["ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up"], check=True)
        yield
    finally:
        _remove_netns()


@pytest.fixture
def vbox(vbox_netns: None, tmp_path: Path) -> Iterator[VBox]:
    store = tmp_path / "store"
    store.mkdir(mode=0o700)
    (store / "cache").symlink_to(test_images.IMAGE_CACHE)
    box = VBox(tmp_path, tmp_path / "bin", tmp_path / "vbox", store)
    vboxsim.install(box.bin)
    try:
        yield box
    finally:
        vboxsim.stop_everything(box.home)  # QEMU and dnsmasq, by PID
        for link in box.links():  # bridges the simulator made in our namespace
            if link.startswith("vboxnet"):
                box.run(["ip", "link", "delete", link])


def _empty(box: VBox) -> None:
    """Nothing left in VirtualBox: no VM, disk, host-only interface or DHCP server."""
    registry = box.registry()
    for kind in ("vms", "media", "hostonlyifs", "dhcpservers"):
        assert not registry.get(kind), (kind, registry.get(kind))
    assert not [link for link in box.links() if link.startswith(("vboxnet", "vbt"))]


def test_refusals_before_anything_is_made(vbox: VBox) -> None:
    """docker-machine's old default network is refused by VirtualBox 6.1.28+: said before
    anything is made, with how to allow it."""
    old = vbox(*CREATE, "--virtualbox-hostonly-cidr", "192.168.99.1/24", "mtold", check=False)
    assert old.returncode == 3, old.stderr
    assert "/etc/vbox/networks.conf" in old.stderr and "192.168.99.0/24" in old.stderr
    no_dhcp = vbox(*CREATE, "--virtualbox-hostonly-no-dhcp", "mtnodhcp", check=False)
    assert no_dhcp.returncode == 3 and "reservation" in no_dhcp.stderr
    bad = vbox(*CREATE, "--virtualbox-hostonly-cidr", "192.168.59.0/24", "mtbad", check=False)
    assert bad.returncode == 3 and "host's address" in bad.stderr
    cpu_flags = Path("/proc/cpuinfo").read_text()
    if " vmx" not in cpu_flags and " svm" not in cpu_flags:  # this machine has no VT-x
        vtx = vbox("create", "-d", "virtualbox", "mtvtx", check=False)
        assert vtx.returncode == 3
        assert "doesn't have VT-X/AMD-v enabled" in vtx.stderr
        assert "--virtualbox-no-vtx-check" in vtx.stderr
    _empty(vbox)
    assert not list((vbox.store / "machines").glob("*"))


def test_a_failed_create_leaves_nothing(vbox: VBox) -> None:
    """startvm fails after the disk, the VM, the network and the reservation were made: the
    rollback removes all of it, the network included (this store made it). The disk came from
    another VM (--virtualbox-import-boot2docker-vm), which is left as it was."""
    source_disk = vbox.work / "b2d.vdi"
    subprocess.run(["qemu-img", "create", "-q", "-f", "vdi", str(source_disk), "64M"], check=True)
    vbox.vboxmanage("createvm", "--name", "b2d", "--basefolder", str(vbox.work), "--register")
    vbox.vboxmanage("storagectl", "b2d", "--name", "SATA", "--add", "sata")
    vbox.vboxmanage(
        *("storageattach", "b2d", "--storagectl", "SATA", "--port", "0", "--device", "0"),
        *("--type", "hdd", "--medium", str(source_disk)),
    )
    failed = vbox(
        *CREATE,
        *("--virtualbox-import-boot2docker-vm", "b2d", "mtfail"),
        check=False,
        VBOXSIM_FAIL="startvm",
    )
    assert failed.returncode == 1, failed.stderr
    assert "startvm failed" in failed.stderr
    made = [call[0] for call in vbox.calls()]
    assert {"clonemedium", "createvm", "hostonlyif", "dhcpserver"} <= set(made)
    [clone] = [call for call in vbox.calls() if call[0] == "clonemedium"]
    assert clone[2] == str(source_disk)
    registry = vbox.registry()
    assert [vm["name"] for vm in registry.pop("vms").values()] == ["b2d"]
    assert list(registry.pop("media")) == [str(source_disk)]
    assert not registry["hostonlyifs"] and not registry["dhcpservers"]
    assert not [link for link in vbox.links() if link.startswith(("vboxnet", "vbt"))]
    assert not (vbox.store / "machines/mtfail").exists()


def test_a_killed_create_is_removed_by_rm(vbox: VBox) -> None:
    """SIGKILL just before startvm: the record holds none of what create made (it never
    returned), the journal all of it; rm adopts and removes it."""
    killed = vbox.killed("machine_driver_virtualbox:Driver._startvm:before", *CREATE, "mtkill")
    assert killed.returncode == -9, killed.stderr
    registry = vbox.registry()
    assert [vm["name"] for vm in registry["vms"].values()] == ["mtkill"]
    assert list(registry["hostonlyifs"]) == ["vboxnet0"]
    saved = json.loads((vbox.store / "machines/mtkill/config.json").read_text())["Driver"]
    assert not saved["UUID"] and not saved["HostOnlyMAC"]
    assert "rm -y mtkill" in vbox("ls").stdout  # ls says how to put it right

    vbox("rm", "-y", "mtkill")
    _empty(vbox)
    assert not (vbox.store / "machines/mtkill").exists()


def test_two_machines_in_parallel_then_their_lifecycle(vbox: VBox, busybox: Path) -> None:
    """Two creates at once share one host-only network (made once) without a race in
    VirtualBox's registry; each VM keeps its reserved address across stop/start and restart;
    the network goes with the last machine."""
    creates = {name: vbox.popen(*CREATE, name) for name in ("mtvb1", "mtvb2")}
    for name, process in creates.items():
        out, err = process.communicate(timeout=1200)
        assert process.returncode == 0, (name, out, err)
        assert "Docker is up and running!" in err
    assert vboxsim_races(vbox) == []
    registry = vbox.registry()
    assert list(registry["hostonlyifs"]) == ["vboxnet0"]
    [server] = registry["dhcpservers"].values()
    ips = {name: vbox("ip", name).stdout.strip() for name in creates}
    assert len(set(ips.values())) == 2
    assert sorted(server["fixed"].values()) == sorted(ips.values())  # reserved by MAC

    before = len(vbox.calls())
    listing = vbox("ls").stdout
    assert [c[:2] for c in vbox.calls()[before:]] == [["list", "vms"], ["list", "runningvms"]]
    for name, ip in ips.items():
        row = next(line.split() for line in listing.splitlines() if line.startswith(name))
        assert row[2:5] == ["virtualbox", "Running", f"tcp://{ip}:2376"], listing

    out = vbox.bash(
        'eval "$(machine env mtvb1)"\n'
        f"docker import {busybox} vbox/busybox >/dev/null\n"
        "docker run --rm vbox/busybox /bin/busybox echo from-virtualbox"
    )
    assert out.stdout.strip() == "from-virtualbox", out.stderr
    assert vbox("ssh", "mtvb1", "hostname").stdout.strip() == "mtvb1"
    # SSH goes through the NAT forward on 127.0.0.1; the engine is on the host-only address
    assert vbox("inspect", "-f", "{{.Driver.SSHPort}}", "mtvb1").stdout.strip() != "22"

    vbox.vboxmanage("controlvm", "mtvb1", "pause")  # as a user might in VirtualBox
    assert vbox("status", "mtvb1").stdout.strip() == "Paused"
    vbox("start", "mtvb1")  # resumes it
    assert vbox("status", "mtvb1").stdout.strip() == "Running"

    assert 'Machine "mtvb1" was stopped.' in vbox("stop", "mtvb1").stderr
    assert vbox("status", "mtvb1").stdout.strip() == "Stopped"
    vbox("start", "mtvb1")
    assert vbox("ip", "mtvb1").stdout.strip() == ips["mtvb1"]
    again = vbox.bash('eval "$(machine env mtvb1)"; docker info --format "{{.Name}}"')
    assert again.stdout.strip() == "mtvb1", again.stderr

    # mtvb2's record becomes one docker-machine wrote (its fields only: the VM is found by
    # its name, the network through the VM); the rest of its life goes through that record
    _as_docker_machine_wrote_it(vbox.store / "machines/mtvb2/config.json")
    assert "mtvb2" in vbox("ls", "-q", "--filter", "state=Running").stdout.split()
    vbox("restart", "mtvb2")
    assert vbox("status", "mtvb2").stdout.strip() == "Running"
    assert vbox("ip", "mtvb2").stdout.strip() == ips["mtvb2"]
    vbox("kill", "mtvb2")
    assert vbox("status", "mtvb2").stdout.strip() == "Stopped"

    vbox("rm", "-y", "mtvb1")
    registry = vbox.registry()
    assert list(registry["hostonlyifs"]) == ["vboxnet0"]  # mtvb2 still uses it
    assert list(next(iter(registry["dhcpservers"].values()))["fixed"].values()) == [ips["mtvb2"]]
    vbox("rm", "-y", "mtvb2")
    _empty(vbox)
    assert vboxsim_races(vbox) == []
    assert not list((vbox.store / "machines").glob("*"))


def _as_docker_machine_wrote_it(config: Path) -> None:
    fixture = json.loads((DM_STORE / "machines/dm-vbox/config.json").read_text())["Driver"]
    data = json.loads(config.read_text())
    ours = data["Driver"]
    data["Driver"] = {key: ours.get(key, value) for key, value in fixture.items()}
    assert "UUID" not in data["Driver"] and "HostOnlyMAC" not in data["Driver"]
    config.write_text(json.dumps(data, indent=4))


def vboxsim_races(box: VBox) -> list[str]:
    path = box.home / "races.log"
    return path.read_text().splitlines() if path.exists() else []
