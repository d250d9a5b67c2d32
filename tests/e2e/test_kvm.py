"""The kvm driver end to end: a real libvirtd, QEMU under software emulation, machine-os built
here, the CLI run as users run it (inside libvirtd's network namespace, see libvirt_host)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from cryptography import x509

from testbed import images as test_images
from testbed import libvirt as libvirt_host
from tests.kvmcli import KvmCLI
from tests.machinecli import MACHINE

IMAGE_CACHE = test_images.IMAGE_CACHE


def seeded_host_key(name: str) -> str:
    """The base64 of the host key in a machine's seed ISO, read from libvirt's pool (a cloud
    image's seed stays: cloud-init looks for it on every boot)."""
    import io

    import pycdlib

    path = libvirt_host.virsh("vol-path", "--pool", "machine", f"machine-{name}-seed.iso").strip()
    iso = pycdlib.PyCdlib()
    iso.open(str(libvirt_host.host_path(path)))
    try:
        out = io.BytesIO()
        iso.get_file_from_iso_fp(out, joliet_path="/machine/ssh_host_ed25519_key.pub")
    finally:
        iso.close()
    return out.getvalue().decode().split()[1]


def test_kvm_machine_lifecycle(
    libvirt: None, machine_os: Path, tmp_path: Path, busybox: Path
) -> None:
    cli = KvmCLI(tmp_path / "store")
    created = cli(
        "create",
        "-d",
        "kvm",
        "--kvm-network",
        libvirt_host.NETWORK,
        "--kvm-cpu-count",
        "2",
        "--wait-timeout",
        "600",
        "mtvm1",
    )
    assert "Docker is up and running!" in created.stderr
    ip = cli("ip", "mtvm1").stdout.strip()
    assert ip.startswith(f"{libvirt_host.SUBNET}.")
    # The address was reserved before boot and the seed carried the engine's TLS files and
    # settings: the engine started once, with TLS, and provisioning found nothing to change.
    assert "Copying certs to the remote machine" not in created.stderr, created.stderr
    starts = cli("ssh", "mtvm1", "sudo journalctl -b -u docker.service -o cat").stdout
    assert starts.count("Daemon has completed initialization") == 1, starts
    # the seed held the engine's key: it is gone from libvirt's pool and from the domain
    assert "machine-mtvm1-seed.iso" not in libvirt_host.virsh("vol-list", "machine")
    assert "seed.iso" not in libvirt_host.virsh("dumpxml", "--inactive", "machine-mtvm1")
    out = cli.bash(
        'eval "$(machine env mtvm1)"\n'
        f"docker import {busybox} kvm/busybox >/dev/null\n"
        "docker run --rm kvm/busybox /bin/busybox echo from-a-vm"
    )
    assert out.stdout.strip() == "from-a-vm", out.stderr
    # the host key came through the seed and was pinned before the first contact; then the
    # VM made one of its own, pinned since
    pinned = (cli.store / "machines/mtvm1/known_hosts").read_text().split()
    assert pinned[0] == "mtvm1" and pinned[1] == "ssh-ed25519"
    assert "Replacing the seeded SSH host key" in created.stderr
    assert cli("ssh", "mtvm1", "hostname").stdout.strip() == "mtvm1"

    assert 'Machine "mtvm1" was stopped.' in cli("stop", "mtvm1").stderr
    assert cli("status", "mtvm1").stdout.strip() == "Stopped"
    cli("start", "mtvm1")
    assert cli("ip", "mtvm1").stdout.strip() == ip  # the lease is pinned to the VM's MAC
    again = cli.bash('eval "$(machine env mtvm1)"; docker info --format "{{.Name}}"')
    assert again.stdout.strip() == "mtvm1", again.stderr
    # a later boot does not wait for the seed kvm deleted (seconds under emulation)
    seed_log = cli("ssh", "mtvm1", "sudo journalctl -b -u machine-seed.service -o cat").stdout
    assert "not waiting for one" in seed_log, seed_log
    # the seed is applied once: the key the VM made survives the reboot
    assert (
        cli("ssh", "mtvm1", "cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]
        == (pinned[2])
    )

    # The reservation changes while the VM is off (someone edited or re-created the network):
    # on start the VM has another address and gets a server cert for it; env keeps working.
    cli("stop", "mtvm1")
    mac = json.loads((cli.store / "machines/mtvm1/config.json").read_text())["Driver"]["MAC"]
    moved = f"{libvirt_host.SUBNET}.50"
    for command, address in (("delete", ip), ("add-last", moved)):
        entry = f"<host mac='{mac}' name='mtvm1' ip='{address}'/>"
        libvirt_host.virsh(
            "net-update", libvirt_host.NETWORK, command, "ip-dhcp-host", entry, "--live", "--config"
        )
    started = cli("start", "mtvm1")
    assert "address changed: issuing a new server certificate" in started.stderr
    assert cli("ip", "mtvm1").stdout.strip() == moved
    server_cert = x509.load_pem_x509_certificate(
        (cli.store / "machines/mtvm1/server.pem").read_bytes()
    )
    sans = server_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert moved in [str(a) for a in sans.get_values_for_type(x509.IPAddress)]
    moved_env = cli.bash(
        'eval "$(machine env mtvm1)"; echo "$DOCKER_HOST"; docker info -f "{{.Name}}"'
    )
    assert moved_env.stdout.split() == [f"tcp://{moved}:2376", "mtvm1"], moved_env.stderr

    cli("rm", "-y", "mtvm1")
    assert "machine-mtvm1" not in libvirt_host.virsh("list", "--all", "--name")
    assert "machine-mtvm1" not in libvirt_host.virsh("vol-list", "machine")
    assert "<host " not in libvirt_host.virsh("net-dumpxml", libvirt_host.NETWORK)
    assert not (cli.store / "machines/mtvm1").exists()


def test_a_killed_create_is_removed_by_rm(libvirt: None, machine_os: Path, tmp_path: Path) -> None:
    """SIGKILL once the VM runs on its reserved address, before create returned what it
    learned: the record holds none of it, the journal all of it; rm adopts and removes it."""
    cli = KvmCLI(tmp_path / "store")
    args = ["create", "-d", "kvm", "--kvm-network", libvirt_host.NETWORK, "--wait-timeout", "600"]
    killed = cli.killed("machine_driver_kvm:_address:after", *args, "mtkill")
    assert killed.returncode == -9, killed.stderr
    assert "machine-mtkill" in libvirt_host.virsh("list", "--name")
    assert "name='mtkill'" in libvirt_host.virsh("net-dumpxml", libvirt_host.NETWORK)
    saved = json.loads((cli.store / "machines/mtkill/config.json").read_text())["Driver"]
    assert not saved["DomainName"] and not saved["MAC"]  # learned, never returned
    assert "rm -y mtkill" in cli("ls").stdout  # ls says how to put it right

    cli("rm", "-y", "mtkill")
    assert "machine-mtkill" not in libvirt_host.virsh("list", "--all", "--name")
    assert "machine-mtkill" not in libvirt_host.virsh("vol-list", "machine")
    assert "name='mtkill'" not in libvirt_host.virsh("net-dumpxml", libvirt_host.NETWORK)
    assert not (cli.store / "machines/mtkill").exists()


def test_kvm_user_mode_networking(libvirt: None, machine_os: Path, tmp_path: Path) -> None:
    """qemu:///session's user-mode networking, and machine-os booted by firmware (SeaBIOS and
    SYSLINUX from the disk, no direct kernel boot), as other hypervisors boot it."""
    cli = KvmCLI(tmp_path / "store")
    cli(
        "create",
        "-d",
        "kvm",
        "--kvm-connection-uri",
        libvirt_host.SESSION_URI,
        "--kvm-cpu-count",
        "2",
        "--kvm-boot",
        "firmware",
        "--wait-timeout",
        "600",
        "mtvm2",
    )
    url = cli("url", "mtvm2").stdout.strip()
    assert url.startswith("tcp://127.0.0.1:")  # the engine through a forwarded port
    out = cli.bash('eval "$(machine env mtvm2)"; docker info --format "{{.Name}}"')
    assert out.stdout.strip() == "mtvm2", out.stderr
    # SYSLINUX names the kernel it loaded on the command line; a direct boot has no BOOT_IMAGE
    cmdline = cli("ssh", "mtvm2", "cat", "/proc/cmdline").stdout
    assert "BOOT_IMAGE=/vmlinuz" in cmdline and "root=LABEL=machine-root" in cmdline
    cli("rm", "-y", "mtvm2")
    assert "machine-mtvm2" not in libvirt_host.virsh("list", "--all", "--name")


def _give_image(store: Path, name: str, owner: str) -> None:
    """The user's own image cache with machine-os in it: blobs hard-linked (read-only to it),
    so the 700 MB are not copied."""
    from machine.images.cache import Cache

    manifest = Cache(IMAGE_CACHE).manifest(name)
    assert manifest is not None
    for folder in ("cache", "cache/blobs", "cache/images"):
        (store / folder).mkdir(mode=0o700, exist_ok=True)
    for key in ("disk", "kernel", "initrd"):
        blob = str(manifest[key]).replace(":", "-")
        os.link(IMAGE_CACHE / "blobs" / blob, store / "cache/blobs" / blob)
    shutil.copy(IMAGE_CACHE / "images" / f"{name}.json", store / "cache/images" / f"{name}.json")
    for path in [store, *store.rglob("*")]:
        if not path.name.startswith("sha256-"):  # the links share root's inode: leave them
            shutil.chown(path, owner, owner)


def test_kvm_session_for_a_user_without_root(libvirt: None, machine_os: Path) -> None:
    """qemu:///session as a plain user: its own libvirtd and pool, QEMU as that user, user-mode
    networking with the engine on a forwarded port of 127.0.0.1."""
    from machine.images import osimage

    user = libvirt_host.SESSION_USER
    home = libvirt_host.session_user()
    opened = libvirt_host.let_session_user_reach(Path(MACHINE))
    store = home / "store"
    shutil.rmtree(store, ignore_errors=True)
    try:
        cli = KvmCLI(store, user=user)
        _give_image(store, osimage.NAME, user)
        cli(
            "create",
            "-d",
            "kvm",
            "--kvm-connection-uri",
            "qemu:///session",
            "--kvm-cpu-count",
            "2",
            "--wait-timeout",
            "600",
            "mtvm4",
        )
        qemu = libvirt_host.run(["pgrep", "-u", user, "-f", "qemu-system.*machine-mtvm4"], False)
        assert qemu.returncode == 0, "QEMU does not run as the user"
        disks = home / ".local/share/libvirt/images/machine"
        assert (disks / "machine-mtvm4.qcow2").exists()
        assert cli("url", "mtvm4").stdout.strip().startswith("tcp://127.0.0.1:")
        out = cli.bash('eval "$(machine env mtvm4)"; docker info --format "{{.Name}}"')
        assert out.stdout.strip() == "mtvm4", out.stderr
        assert 'Machine "mtvm4" was stopped.' in cli("stop", "mtvm4").stderr
        cli("start", "mtvm4")
        again = cli.bash('eval "$(machine env mtvm4)"; docker info --format "{{.Name}}"')
        assert again.stdout.strip() == "mtvm4", again.stderr
        cli("rm", "-y", "mtvm4")
        assert not (disks / "machine-mtvm4.qcow2").exists()
        assert not (store / "machines/mtvm4").exists()
    finally:
        libvirt_host.stop_session_user()
        libvirt_host.close_to_session_user(opened)
        shutil.rmtree(store, ignore_errors=True)


CLOUDINIT_RECIPE = Path(__file__).resolve().parent.parent / "fixtures" / "cloudinit-image"


@pytest.fixture(scope="module")
def cloudinit_image(libvirt: None) -> str:
    """A stand-in for a stock cloud image (cloud-init applies the seed), built offline."""
    test_images.built(CLOUDINIT_RECIPE, "cloudinit-test")
    return "cloudinit-test"


def test_the_same_seed_boots_a_cloud_init_image(
    libvirt: None, cloudinit_image: str, tmp_path: Path
) -> None:
    cli = KvmCLI(tmp_path / "store")
    cli(
        "create",
        "-d",
        "kvm",
        "--kvm-image",
        cloudinit_image,
        "--kvm-network",
        libvirt_host.NETWORK,
        "--kvm-cpu-count",
        "2",
        "--wait-timeout",
        "600",
        "mtvm3",
    )
    # create only succeeds if the guest offered the host key pinned before boot: cloud-init
    # installed the seed's host key, the login key and user, and the host name
    assert cli("ssh", "mtvm3", "hostname").stdout.strip() == "mtvm3"
    assert cli("ssh", "mtvm3", "id -un").stdout.strip() == "docker"
    # cloud-init itself finds nothing wrong with the seed's user-data
    schema = cli("ssh", "mtvm3", "sudo cloud-init schema --system", check=False)
    assert "Valid cloud-config: system userdata" in schema.stdout + schema.stderr, schema
    out = cli.bash('eval "$(machine env mtvm3)"; docker info --format "{{.Name}}"')
    assert out.stdout.strip() == "mtvm3", out.stderr
    # the seeded host key was replaced, and cloud-init (once per instance) keeps it so
    pinned = (cli.store / "machines/mtvm3/known_hosts").read_text().split()[2]
    assert pinned != seeded_host_key("mtvm3")
    cli("restart", "mtvm3")
    assert cli("ssh", "mtvm3", "hostname").stdout.strip() == "mtvm3"
    cli("rm", "-y", "mtvm3")
    assert "machine-mtvm3" not in libvirt_host.virsh("list", "--all", "--name")
