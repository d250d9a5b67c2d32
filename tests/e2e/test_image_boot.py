"""machine-os exported in each hypervisor's format boots by firmware alone (no -kernel), on the
disk and network hardware that hypervisor gives a guest, and applies its seed.

Each case is QEMU under software emulation with SeaBIOS (`-bios` default) or OVMF (UEFI), the
exported disk on virtio (kvm), AHCI SATA (VirtualBox) or PVSCSI (VMware), the NoCloud seed on
another slot, and user-mode networking whose only way in is a port of 127.0.0.1 forwarded to the
guest's sshd. Passing means: sshd answers with the host key the seed carried (checked before any
login) and the seeded login key is accepted.

VMware's guestinfo seed cannot come from QEMU; `test_guestinfo_seed` runs machine-os's seed step
in its own root file system (systemd-nspawn) with vmware-rpctool answering from guestinfo values
as VMware's would.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from machine import seed
from machine.tls import certs
from testbed import images as machine_os
from tests.machinecli import CLI

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
BOOT_DEADLINE = 900.0  # five guests share two cores under emulation: give each room
FIXTURES = Path(__file__).parent.parent / "fixtures"


@dataclass(frozen=True)
class Case:
    fmt: str
    firmware: str  # bios | uefi
    disk_bus: str  # virtio | sata | pvscsi | nvme
    seed_slot: str  # virtio | ide-cd | sata-cd
    nic: str


CASES = {
    "qcow2-bios": Case("qcow2", "bios", "virtio", "virtio", "virtio-net-pci"),
    "qcow2-uefi": Case("qcow2", "uefi", "virtio", "sata-cd", "virtio-net-pci"),
    # vdi by BIOS (SATA disk and DVD, e1000) is what the virtualbox driver's tests boot, through
    # the VBoxManage simulator: tests/e2e/test_virtualbox.py
    "vdi-uefi": Case("vdi", "uefi", "sata", "sata-cd", "e1000"),
    "vmdk-bios": Case("vmdk", "bios", "pvscsi", "ide-cd", "vmxnet3"),
    # VMware's EFI VMs boot from NVMe or SATA (OVMF has no PVSCSI driver)
    "vmdk-uefi": Case("vmdk", "uefi", "nvme", "sata-cd", "vmxnet3"),
}


@dataclass
class Guest:
    case: Case
    name: str
    port: int
    host_key: str  # "ssh-ed25519 AAAA..."
    login_key: Path
    serial: Path
    process: subprocess.Popen[bytes]

    def serial_tail(self) -> str:
        try:
            text = self.serial.read_text(errors="replace")
        except OSError:
            return "(no serial output)"
        return "\n".join(text.splitlines()[-25:])


@pytest.fixture(scope="module")
def exports(_prereqs: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """machine-os exported in every format by the CLI, as a user would."""
    for tool in ("qemu-system-x86_64", "qemu-img"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing (tools/setup installs it)")
    machine_os.built()
    store = tmp_path_factory.mktemp("export-store")
    (store / "cache").symlink_to(machine_os.IMAGE_CACHE)
    cli = CLI(store)
    out = tmp_path_factory.mktemp("exports")
    files = {}
    for fmt in ("qcow2", "raw", "vmdk", "vdi", "ova"):
        path = out / f"machine-os.{fmt}"
        result = cli("image", "export", "machine-os", "--format", fmt, "-o", str(path))
        assert result.stdout.strip() == str(path)
        files[fmt] = path
    return files


@pytest.fixture(scope="module")
def guests(
    exports: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Guest]]:
    """All cases booting at once (each waits for its own sshd in its test)."""
    if not OVMF_CODE.is_file():
        pytest.fail(f"{OVMF_CODE} is missing (tools/setup installs ovmf)")
    started: dict[str, Guest] = {}
    try:
        for label, case in CASES.items():
            started[label] = _boot(label, case, exports, tmp_path_factory.mktemp(label))
        yield started
    finally:
        for guest in started.values():  # our QEMU processes, by PID
            guest.process.terminate()
            try:
                guest.process.wait(30)
            except subprocess.TimeoutExpired:
                guest.process.kill()
                guest.process.wait()


def _boot(label: str, case: Case, exports: dict[str, Path], work: Path) -> Guest:
    host_private, host_public = certs.ssh_keypair()
    login_private, login_public = certs.ssh_keypair()
    login_key = work / "id_ed25519"
    login_key.write_bytes(login_private)
    login_key.chmod(0o600)
    name = f"mt-{label}"
    seed_iso = work / "seed.iso"
    seed_iso.write_bytes(
        seed.iso(
            seed.Seed(
                hostname=name,
                user="docker",
                authorized_key=login_public,
                host_key_private=host_private.decode(),
                host_key_public=host_public,
                instance_id=f"i-{label}",
            )
        )
    )
    disk = work / f"disk.{case.fmt}"
    if case.fmt == "qcow2":  # a larger overlay: the root file system grows to fill it
        subprocess.run(
            [
                *("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2"),
                *("-b", str(exports["qcow2"]), str(disk), "4G"),
            ],
            check=True,
        )
        disk_opts = f"file={disk},format=qcow2"
    else:  # the exported file itself, written through a throw-away overlay
        disk_opts = f"file={exports[case.fmt]},format={case.fmt},snapshot=on"
    port = _free_port()
    serial = work / "serial.log"
    argv = [
        "qemu-system-x86_64",
        "-accel",
        "tcg",
        "-machine",
        "q35" if case.firmware == "uefi" else "pc",
        "-m",
        "1024",
        "-smp",
        "1",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        f"file:{serial}",
        "-nic",
        f"user,model={case.nic},hostfwd=tcp:127.0.0.1:{port}-:22",
    ]
    if case.firmware == "uefi":
        vars_file = work / "OVMF_VARS.fd"
        shutil.copyfile(OVMF_VARS, vars_file)
        argv += [
            "-drive",
            f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
            "-drive",
            f"if=pflash,format=raw,file={vars_file}",
        ]
    argv += ["-drive", f"if=none,id=disk0,{disk_opts}"]
    if case.disk_bus == "virtio":
        argv += ["-device", "virtio-blk-pci,drive=disk0,bootindex=1"]
    elif case.disk_bus == "sata":
        if case.firmware == "bios":  # the pc machine has IDE only: add an AHCI controller
            argv += ["-device", "ahci,id=sata"]
            argv += ["-device", "ide-hd,drive=disk0,bus=sata.0,bootindex=1"]
        else:  # q35's own AHCI controller
            argv += ["-device", "ide-hd,drive=disk0,bus=ide.0,bootindex=1"]
    elif case.disk_bus == "nvme":
        argv += ["-device", "nvme,drive=disk0,serial=machine0,bootindex=1"]
    else:
        argv += ["-device", "pvscsi,id=scsi0", "-device", "scsi-hd,drive=disk0,bootindex=1"]
    argv += ["-drive", f"if=none,id=seed0,file={seed_iso},format=raw,readonly=on"]
    if case.seed_slot == "virtio":
        argv += ["-device", "virtio-blk-pci,drive=seed0"]
    elif case.seed_slot == "ide-cd":
        argv += ["-device", "ide-cd,drive=seed0,bus=ide.1"]
    else:
        argv += ["-device", "ide-cd,drive=seed0,bus=ide.2"]
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=(work / "qemu.log").open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "TMPDIR": str(work)},  # snapshot=on's overlay
    )
    return Guest(case, name, port, host_public, login_key, serial, process)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ssh(guest: Guest, deadline: float) -> paramiko.SSHClient:
    """Log in once sshd answers; the host key must be the seeded one before anything is sent."""
    expected = guest.host_key.split()[1]
    problem = "no answer"
    while time.monotonic() < deadline:
        if guest.process.poll() is not None:
            raise AssertionError(f"QEMU exited {guest.process.returncode}\n{guest.serial_tail()}")
        transport = None
        try:
            sock = socket.create_connection(("127.0.0.1", guest.port), timeout=10)
            transport = paramiko.Transport(sock)
            transport.banner_timeout = 30
            transport.start_client(timeout=30)
            offered = transport.get_remote_server_key()  # raises when sshd is not up yet
        except (OSError, EOFError, paramiko.SSHException) as exc:
            # QEMU's forward accepts before the guest listens: no banner yet
            problem = str(exc) or type(exc).__name__
            if transport is not None:
                transport.close()
            time.sleep(3)
            continue
        if offered.get_name() != "ssh-ed25519" or offered.get_base64() != expected:
            transport.close()
            raise AssertionError(f"sshd offered another host key: {offered.get_base64()}")
        transport.auth_publickey(
            "docker", paramiko.Ed25519Key.from_private_key_file(str(guest.login_key))
        )
        client = paramiko.SSHClient()
        client._transport = transport  # type: ignore[attr-defined]  # an already verified one
        return client
    raise AssertionError(f"sshd never answered ({problem})\n{guest.serial_tail()}")


def _run(client: paramiko.SSHClient, command: str) -> str:
    _in, out, err = client.exec_command(command, timeout=120)
    text = out.read().decode()
    status = out.channel.recv_exit_status()
    assert status == 0, f"{command}: exit {status}: {err.read().decode()}"
    return text


@pytest.mark.parametrize("label", list(CASES))
def test_boots_by_firmware_with_the_seed(label: str, guests: dict[str, Guest]) -> None:
    guest = guests[label]
    client = _ssh(guest, time.monotonic() + BOOT_DEADLINE)
    try:
        assert _run(client, "hostname").strip() == guest.name
        cmdline = _run(client, "cat /proc/cmdline")
        assert "console=ttyS0" in cmdline and "console=tty0" in cmdline
        efi = _run(client, "test -d /sys/firmware/efi && echo uefi || echo bios").strip()
        assert efi == guest.case.firmware
        assert "sudo-ok" in _run(client, "sudo -n echo sudo-ok")
        if guest.case.fmt == "qcow2" and guest.case.firmware == "bios":
            # the root partition and file system grow to the 4 GiB disk once the engine is up
            # (five guests share two cores here: its start can take minutes)
            size, deadline = 0, time.monotonic() + 600
            while time.monotonic() < deadline:
                size = int(_run(client, "findmnt -bno SIZE /").strip())
                if size > 3 << 30:
                    break
                time.sleep(3)
            assert size > 3 << 30, f"the root file system stayed at {size} bytes"
    finally:
        client.close()


def test_ova_descriptor_is_valid_ovf(exports: dict[str, Path], tmp_path: Path) -> None:
    """The descriptor validates against the OVF envelope schema (tests/fixtures/ovf), its
    manifest's digests match, and its disk is a sound stream-optimised vmdk."""
    import hashlib

    with tarfile.open(exports["ova"]) as ova:
        members = ova.getmembers()
        names = [m.name for m in members]
        assert names[0].endswith(".ovf") and names[1].endswith(".mf")  # the order OVA asks
        for member in members:  # plain files with plain names only
            assert member.isfile() and "/" not in member.name, member.name
            source = ova.extractfile(member)
            assert source is not None
            with source, open(tmp_path / member.name, "wb") as out:
                shutil.copyfileobj(source, out)
    descriptor = tmp_path / names[0]
    result = subprocess.run(
        ["xmllint", "--noout", "--schema", str(FIXTURES / "ovf" / "envelope.xsd"), str(descriptor)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    for line in (tmp_path / names[1]).read_text().splitlines():
        name, digest = line.removeprefix("SHA256(").split(")= ")
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest
    disk = tmp_path / names[2]
    check = subprocess.run(["qemu-img", "check", str(disk)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(disk)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert info["format"] == "vmdk"
    assert info["format-specific"]["data"]["create-type"] == "streamOptimized"
    # the descriptor's capacity is the disk's, and its file size the file's
    text = descriptor.read_text()
    assert f'ovf:capacity="{info["virtual-size"]}"' in text
    assert f'ovf:size="{disk.stat().st_size}"' in text


def test_exports_are_converted_once(exports: dict[str, Path], tmp_path: Path) -> None:
    """A second export of the same image is a copy of the cached conversion (same bytes, no
    qemu-img run: qemu-img is not even on PATH for it)."""
    store = tmp_path / "store"
    store.mkdir(mode=0o700)
    (store / "cache").symlink_to(machine_os.IMAGE_CACHE)
    cli = CLI(store)
    bare = tmp_path / "bin"
    bare.mkdir()
    path = f"{bare}:/usr/bin:/bin"  # qemu-img lives in /usr/bin: shadow it with a failing one
    (bare / "qemu-img").write_text("#!/bin/sh\necho 'qemu-img must not run' >&2\nexit 99\n")
    (bare / "qemu-img").chmod(0o755)
    again = tmp_path / "again.vmdk"
    cli("image", "export", "machine-os", "--format", "vmdk", "-o", str(again), PATH=path)
    assert again.read_bytes() == exports["vmdk"].read_bytes()
    raw = tmp_path / "again.raw"
    cli("image", "export", "machine-os", "-f", "raw", "-o", str(raw), PATH=path)
    assert raw.stat().st_size == exports["raw"].stat().st_size
    # holes stay holes: the disk holds about 0.9 GB of data in 1.7 GB
    assert raw.stat().st_blocks * 512 < raw.stat().st_size * 3 // 4


def test_guestinfo_seed(exports: dict[str, Path], tmp_path: Path) -> None:
    """machine-os's seed step reads VMware's guestinfo (base64 and gzip+base64) when no NoCloud
    ISO is attached: run in the exported disk's own root file system, with vmware-rpctool and
    systemd-detect-virt answering as on VMware."""
    host_private, host_public = certs.ssh_keypair()
    _login_private, login_public = certs.ssh_keypair()
    facts = seed.Seed(
        hostname="mt-guestinfo",
        user="docker",
        authorized_key=login_public,
        host_key_private=host_private.decode(),
        host_key_public=host_public,
        instance_id="i-guestinfo",
    )
    values = {
        **seed.guestinfo(facts),  # what the vSphere driver puts in the VM's ExtraConfig
        # and gzip+base64, which other tools write
        "guestinfo.metadata": base64.b64encode(
            gzip.compress(seed.meta_data(facts).encode())
        ).decode(),
        "guestinfo.metadata.encoding": "gzip+base64",
    }
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "guestinfo.json").write_text(json.dumps(values))
    # vmware-rpctool "info-get guestinfo.X": the value, or exit 1 as when the key is unset
    cases = "".join(
        f'    "info-get {key}") printf %s {_shell_quote(value)} ;;\n'
        for key, value in values.items()
    )
    (stubs / "vmware-rpctool").write_text(
        f'#!/bin/sh\ncase "$1" in\n{cases}    *) echo "No value found" >&2; exit 1 ;;\nesac\n'
    )
    (stubs / "systemd-detect-virt").write_text("#!/bin/sh\necho vmware\n")
    for stub in ("vmware-rpctool", "systemd-detect-virt"):
        (stubs / stub).chmod(0o755)
    disk = tmp_path / "disk.raw"
    shutil.copyfile(exports["raw"], disk)
    root = tmp_path / "root"
    root.mkdir()
    offset = _root_offset(disk)
    subprocess.run(["mount", "-o", f"loop,offset={offset}", str(disk), str(root)], check=True)
    try:
        script = (
            "/usr/local/sbin/machine-seed && hostname && cat /etc/hostname "
            "/home/docker/.ssh/authorized_keys /etc/ssh/ssh_host_ed25519_key.pub "
            "&& stat -c %a /etc/ssh/ssh_host_ed25519_key && ! ls /run/machine-seed/guestinfo"
        )
        result = subprocess.run(
            [
                "systemd-nspawn",
                "--quiet",
                "--register=no",
                "--keep-unit",  # no scope of its own: no system bus needed
                "--private-network",
                f"--directory={root}",
                f"--bind-ro={stubs}/vmware-rpctool:/usr/local/bin/vmware-rpctool",
                f"--bind-ro={stubs}/systemd-detect-virt:/usr/local/bin/systemd-detect-virt",
                "/bin/sh",
                "-c",
                script,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        assert lines[:5] == ["mt-guestinfo", "mt-guestinfo", login_public, host_public, "600"]
        applied = (root / "var/lib/machine-seed/applied").read_text().strip()
        assert applied == _sha256_text(seed.meta_data(facts))
    finally:
        subprocess.run(["umount", str(root)], check=True)


def _root_offset(disk: Path) -> int:
    table = json.loads(
        subprocess.run(
            ["sfdisk", "-J", str(disk)], capture_output=True, text=True, check=True
        ).stdout
    )["partitiontable"]
    from machine.images import osimage

    (part,) = [p for p in table["partitions"] if p["type"] == osimage.ROOT_TYPE_X86_64]
    return int(part["start"]) * int(table.get("sectorsize", 512))


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _sha256_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()
