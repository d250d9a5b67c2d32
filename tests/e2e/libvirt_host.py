"""A real libvirtd for the kvm tests, in a network namespace of its own (`mlv`), so its bridge,
dnsmasq and NAT rules stay there; its unix socket is still reachable from everywhere.

The tests' own network `machine-test` is on a private test subnet (10.233.0.0/24), and the
machine CLI is run inside the namespace, where the guests are reachable: no traffic ever leaves
it. (libvirtd itself is restarted in that namespace: run these tests on a test machine.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

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
PIDFILES = ("/run/libvirtd.pid", "/run/virtlogd.pid")


def run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=120)


def in_netns(argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", NETNS, *argv]


def stop_daemons() -> None:
    for pidfile in PIDFILES:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(Path(pidfile).read_text().strip()), signal.SIGTERM)
    for name in ("libvirtd", "virtlogd"):
        run(["pkill", "-x", name], check=False)
    # the test network's dnsmasq outlives a killed libvirtd (and its network namespace)
    run(["pkill", "-f", f"dnsmasq --conf-file=/var/lib/libvirt/dnsmasq/{NETWORK}.conf"], False)
    deadline = time.monotonic() + 15
    while (
        time.monotonic() < deadline
        and run(["pgrep", "-x", "libvirtd"], check=False).returncode == 0
    ):
        time.sleep(0.2)


def kvm_device_as_debian_sets_it() -> None:
    """/dev/kvm root:kvm 0660, as udev sets it on Debian. Left root-only (no udev here),
    libvirtd finds KVM when it probes QEMU as root but not for the qemu user, calls its cache
    of QEMU's capabilities stale, and probes again on every domain it defines (~30 s each)."""
    if run(["getent", "group", "kvm"], check=False).returncode == 0 and Path("/dev/kvm").exists():
        run(["chgrp", "kvm", "/dev/kvm"], check=False)
        os.chmod("/dev/kvm", 0o660)


def start() -> None:
    """libvirtd and virtlogd in the namespace, with the test network running."""
    kvm_device_as_debian_sets_it()
    stop_daemons()
    run(["ip", "netns", "del", NETNS], check=False)
    run(["ip", "netns", "add", NETNS])
    run(["ip", "-n", NETNS, "link", "set", "lo", "up"])
    run(in_netns(["virtlogd", "-d"]))
    run(in_netns(["libvirtd", "-d"]))
    deadline = time.monotonic() + 60
    while run(["virsh", "-c", "qemu:///system", "version"], check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("libvirtd did not start")
        time.sleep(0.5)
    for domain in virsh("list", "--all", "--name").split():
        if domain.startswith("machine-"):  # leftovers of an earlier run
            virsh("destroy", domain, check=False)
            virsh("undefine", domain, check=False)
    virsh("net-destroy", NETWORK, check=False)
    virsh("net-undefine", NETWORK, check=False)
    xml = Path("/run/machine-test-net.xml")
    xml.write_text(TEST_NETWORK)
    virsh("net-define", str(xml))
    virsh("net-start", NETWORK)


def stop() -> None:
    for domain in virsh("list", "--all", "--name", check=False).split():
        if domain.startswith("machine-"):
            virsh("destroy", domain, check=False)
            virsh("undefine", domain, check=False)
    virsh("net-destroy", NETWORK, check=False)
    virsh("net-undefine", NETWORK, check=False)
    stop_daemons()
    run(["ip", "netns", "del", NETNS], check=False)


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
    """The user's own libvirtd (spawned by its first qemu:///session client) and its QEMUs."""
    run(["pkill", "-u", SESSION_USER], check=False)
    deadline = time.monotonic() + 15
    while run(["pgrep", "-u", SESSION_USER], check=False).returncode == 0:
        if time.monotonic() > deadline:
            run(["pkill", "-9", "-u", SESSION_USER], check=False)
            break
        time.sleep(0.2)


def virsh(*args: str, check: bool = True) -> str:
    return run(["virsh", "-c", "qemu:///system", *args], check=check).stdout
