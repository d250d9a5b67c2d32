"""A libvirtd of the tests' own, touching nothing of the machine's.

It runs in a network namespace (`mlv`), so its bridge, dnsmasq and NAT rules stay there, and
in a mount namespace where /etc/libvirt, /var/lib/libvirt, /var/cache/libvirt and
/run/libvirt are folders of its own (under the test cache): it sees no domain, network or
volume of a libvirtd the machine may run, and a system libvirtd is neither stopped nor used.
Its socket is reached at URI from everywhere; the machine CLI runs inside the network
namespace, where the guests are reachable, so no traffic ever leaves it.

Only what this module started is stopped, by the PIDs in its own pid files (checked against
the process's command line first). The tests' network `machine-test` is on a private test
subnet (10.233.0.0/24).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from testbed.hosts import CACHE, Lan

NETNS = "mlv"
SUBNET = "10.233.0"
NETWORK = "machine-test"
TEST_NETWORK = f"""<network>
  <name>{NETWORK}</name>
  <forward mode='nat'/>
  <bridge name='mlvbr0' stp='on' delay='0'/>
  <ip address='{SUBNET}.1' netmask='255.255.255.0'>
    <dhcp><range start='{SUBNET}.100' end='{SUBNET}.254'/></dhcp>
  </ip>
</network>
"""
# The daemon's own state: each folder is mounted over the system's in its mount namespace.
STATE = CACHE / "libvirtd"
MOUNTS = {
    "etc": "/etc/libvirt",
    "lib": "/var/lib/libvirt",
    "cache": "/var/cache/libvirt",
    "run": "/run/libvirt",
}
SOCKET = STATE / "run" / "libvirt-sock"
URI = f"qemu+unix:///system?socket={SOCKET}"
# For root, libvirt answers a session URI from the system daemon: this one is ours (the kvm
# driver gives such a VM user-mode networking, as for any session URI)
SESSION_URI = f"qemu+unix:///session?socket={SOCKET}"
# (pid file as the host sees it, a word its process's command line must hold)
PIDFILES = (
    (STATE / "run" / "libvirtd.pid", "libvirtd"),
    (STATE / "run" / "virtlogd.pid", "virtlogd"),
    (STATE / "run" / "network" / f"{NETWORK}.pid", "dnsmasq"),
)


def run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=120)


def in_netns(argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", NETNS, *argv]


def host_path(path: str) -> Path:
    """Where a path the daemon names (a volume's) is for everyone else."""
    for folder, mountpoint in MOUNTS.items():
        if path == mountpoint or path.startswith(mountpoint + "/"):
            return STATE / folder / path[len(mountpoint) + 1 :]
    return Path(path)


def _ours(pid: int, word: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return word.encode() in cmdline


def stop_daemons() -> None:
    """Stop the daemons this module started (now or in an earlier run), by their PIDs."""
    pids = []
    for pidfile, word in PIDFILES:
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().strip())
            if _ours(pid, word):
                os.kill(pid, signal.SIGTERM)
                pids.append(pid)
    deadline = time.monotonic() + 15
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _status(pid)


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return ""


# QEMU runs as libvirt-qemu in group kvm, as Debian makes that user (adduser --ingroup kvm).
# Where the user exists with a group of its own instead, QEMU could not open /dev/kvm while
# libvirtd (root) can: libvirtd then calls its cache of QEMU's capabilities stale and probes
# QEMU again on every domain it defines (about a minute each under this host's emulation).
QEMU_CONF = 'user = "libvirt-qemu"\ngroup = "kvm"\n'


def kvm_device_as_debian_sets_it() -> None:
    """/dev/kvm root:kvm 0660, as udev sets it on Debian. Left root-only (no udev here),
    libvirtd finds KVM when it probes QEMU as root but not for the qemu user, calls its cache
    of QEMU's capabilities stale, and probes again on every domain it defines (~30 s each)."""
    if run(["getent", "group", "kvm"], check=False).returncode == 0 and Path("/dev/kvm").exists():
        run(["chgrp", "kvm", "/dev/kvm"], check=False)
        os.chmod("/dev/kvm", 0o660)


def start() -> None:
    """Our libvirtd and virtlogd, in their namespaces, with the test network running."""
    kvm_device_as_debian_sets_it()
    stop()  # whatever an earlier run left of ours
    for folder, mountpoint in MOUNTS.items():
        (STATE / folder).mkdir(parents=True, exist_ok=True)
        # as the system's folders are: QEMU runs as libvirt-qemu and must reach its disks
        (STATE / folder).chmod(0o755)
        Path(mountpoint).mkdir(parents=True, exist_ok=True)
    (STATE / "etc" / "qemu.conf").write_text(QEMU_CONF)
    run(["ip", "netns", "add", NETNS])
    run(["ip", "-n", NETNS, "link", "set", "lo", "up"])
    binds = " && ".join(
        f"mount --bind {STATE / folder} {mountpoint}" for folder, mountpoint in MOUNTS.items()
    )
    daemons = "virtlogd -d -p /run/libvirt/virtlogd.pid && libvirtd -d -p /run/libvirt/libvirtd.pid"
    run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            f"{binds} && exec ip netns exec {NETNS} sh -c '{daemons}'",
        ]
    )
    deadline = time.monotonic() + 60
    while run(["virsh", "-c", URI, "version"], check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the tests' libvirtd did not start")
        time.sleep(0.5)
    _forget_all()  # what an earlier run left in this daemon's state (all of it ours)
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "network.xml"
        xml.write_text(TEST_NETWORK)
        virsh("net-define", str(xml))
    virsh("net-start", NETWORK)


def stop() -> None:
    """Everything in our daemon is ours: its domains, the test network; then the daemons."""
    if SOCKET.exists() and run(["virsh", "-c", URI, "version"], check=False).returncode == 0:
        _forget_all()
    stop_daemons()
    run(["ip", "netns", "del", NETNS], check=False)


def _forget_all() -> None:
    for domain in virsh("list", "--all", "--name", check=False).split():
        virsh("destroy", domain, check=False)
        virsh("undefine", domain, check=False)
    virsh("net-destroy", NETWORK, check=False)
    virsh("net-undefine", NETWORK, check=False)


SESSION_USER = "machine-kvm-test"


def session_user() -> Path:
    """A user without root, in group kvm as Debian's libvirt docs ask; its home."""
    if run(["getent", "passwd", SESSION_USER], check=False).returncode != 0:
        run(["useradd", "--create-home", "--groups", "kvm", "--shell", "/bin/bash", SESSION_USER])
    return Path(run(["getent", "passwd", SESSION_USER]).stdout.split(":")[5])


def let_session_user_reach(path: Path) -> list[Path]:
    """The folders above `path` the user may not pass (a checkout under /root), opened to that
    user alone with an ACL entry; the ones changed, for `close_to_session_user`."""
    opened = []
    for folder in reversed(path.resolve().parents):
        if folder.stat().st_mode & 0o001:
            continue
        run(["setfacl", "-m", f"u:{SESSION_USER}:x", str(folder)])
        opened.append(folder)
    return opened


def close_to_session_user(folders: list[Path]) -> None:
    for folder in folders:
        run(["setfacl", "-x", f"u:{SESSION_USER}", str(folder)], check=False)


def stop_session_user() -> None:
    """The test user's own libvirtd (spawned by its first qemu:///session client) and its
    QEMUs: every process of that user, which exists for these tests alone, by PID."""
    started = time.monotonic()
    while (pids := _pids_of(SESSION_USER)) and time.monotonic() - started < 60:
        sig = signal.SIGTERM if time.monotonic() - started < 15 else signal.SIGKILL
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(0.2)


def _pids_of(user: str) -> list[int]:
    found = run(["pgrep", "-u", user], check=False).stdout.split()
    return [int(pid) for pid in found]


def virsh(*args: str, check: bool = True) -> str:
    return run(["virsh", "-c", URI, *args], check=check).stdout


# Test hosts (testbed.hosts) plugged into the test network's bridge: VMs and hosts on one
# segment, reached from this namespace at <SUBNET>.<host index> (below the DHCP range)
LAN = Lan(NETNS, "mlvbr0", SUBNET)
