"""Real test hosts: Debian with systemd, sshd and (optionally) dockerd, in systemd-nspawn
containers, each in its own network namespace reached over a veth pair on 10.231.N.0/30.

Root file systems are built once with mmdebstrap and cached outside the checkout (rebuilt when
their recipe changes); each host boots an overlay of one. Everything a host starts is stopped
and removed on teardown, and leftovers of an earlier run under the same names are removed first.
Traffic only ever goes to these hosts' addresses.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CACHE = Path(os.environ.get("MACHINE_TEST_CACHE", "/var/cache/machine-tests"))
# root's own folder, not one under /tmp or /var/tmp (where anyone can plant a link first)
WORK = Path(os.environ.get("MACHINE_TEST_WORK", str(CACHE / "hosts")))
SUBNET_PREFIX = "10.231"

BASE_PACKAGES = "systemd,systemd-sysv,openssh-server,dbus,iproute2,ca-certificates,sudo"
VARIANTS = {
    # engine preinstalled; its .debs are kept to serve as the local apt repository (curl is
    # there for hosts that install the engine with a script and must fetch it first; rsync
    # for `scp --delta`)
    "docker": BASE_PACKAGES + ",docker.io,curl,rsync",
    "plain": BASE_PACKAGES,
    # vcsim's VMs (testbed/vcsim.py): a guest that applies the vSphere driver's guestinfo seed
    # with cloud-init, and runs the engine
    "vsphere-guest": BASE_PACKAGES + ",docker.io,cloud-init,util-linux",
}


def run(argv: list[str], check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, text=True, capture_output=True, **kw)  # type: ignore[call-overload, no-any-return]


def prerequisites_missing() -> list[str]:
    missing = [
        t
        for t in ("mmdebstrap", "systemd-nspawn", "ip", "dpkg-scanpackages")
        if shutil.which(t) is None
    ]
    if os.geteuid() != 0:
        missing.append("root")
    return missing


# --- root file systems -----------------------------------------------------------------------


def _recipe(variant: str) -> str:
    return hashlib.sha256(f"v1 bookworm minbase {VARIANTS[variant]}".encode()).hexdigest()[:12]


def rootfs(variant: str) -> Path:
    """The extracted root file system of `variant`, built and cached on first use."""
    target = CACHE / f"rootfs-{variant}-{_recipe(variant)}"
    if (target / ".complete").exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    lock = CACHE / f".{variant}.lock"
    import fcntl

    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        if (target / ".complete").exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        for stale in CACHE.glob(f"rootfs-{variant}-*"):  # builds of older recipes
            shutil.rmtree(stale, ignore_errors=True)
        if variant == "docker":
            for stale in CACHE.glob("apt-repo-*"):
                shutil.rmtree(stale, ignore_errors=True)
        tar = CACHE / f"rootfs-{variant}.tar"
        argv = ["mmdebstrap", "--variant=minbase", f"--include={VARIANTS[variant]}"]
        if variant == "docker":
            argv.append("--skip=cleanup/apt/cache")
        run([*argv, "bookworm", str(tar)], timeout=1200)
        target.mkdir()
        run(["tar", "-C", str(target), "-xf", str(tar)])
        tar.unlink()
        if variant == "docker":
            _make_apt_repo(target)
        # No host keys in the image: each host makes its own at first boot (ssh-keygen -A).
        for key in (target / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        unit = target / "etc/systemd/system/ssh-hostkeys.service"
        unit.write_text(
            "[Unit]\nBefore=ssh.service\n[Service]\nType=oneshot\n"
            "ExecStart=/usr/bin/ssh-keygen -A\n[Install]\nWantedBy=multi-user.target\n"
        )
        wants = target / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        (wants / "ssh-hostkeys.service").symlink_to("/etc/systemd/system/ssh-hostkeys.service")
        (target / ".complete").write_text("ok\n")
    return target


def apt_repo() -> Path:
    return rootfs("docker").parent / f"apt-repo-{_recipe('docker')}"


def _make_apt_repo(docker_root: Path) -> None:
    repo = docker_root.parent / f"apt-repo-{_recipe('docker')}"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir()
    archives = docker_root / "var/cache/apt/archives"
    for deb in archives.glob("*.deb"):
        shutil.move(str(deb), repo / deb.name)
    packages = run(["dpkg-scanpackages", "--multiversion", "."], cwd=repo).stdout
    (repo / "Packages").write_text(packages)


# --- a host ----------------------------------------------------------------------------------


@dataclass
class TestHost:
    __test__ = False  # a test fixture, not a test class, whatever its name says
    name: str
    index: int  # 1..250: the third octet of its subnet
    variant: str = "docker"
    process: subprocess.Popen[bytes] | None = None
    _stopping: bool = False
    _argv: list[str] = field(default_factory=list)
    servers: list[http.server.ThreadingHTTPServer] = field(default_factory=list)

    @property
    def ns(self) -> str:
        return f"mt{self.index}"

    @property
    def veth(self) -> str:
        return f"mtv{self.index}"

    @property
    def gateway(self) -> str:
        return f"{SUBNET_PREFIX}.{self.index}.1"

    @property
    def ip(self) -> str:
        return f"{SUBNET_PREFIX}.{self.index}.2"

    @property
    def dir(self) -> Path:
        return WORK / self.name

    @property
    def merged(self) -> Path:
        return self.dir / "merged"

    def cleanup(self) -> None:
        """Remove everything of this host, whether from this run or an earlier one."""
        self._stopping = True
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        pidfile = self.dir / "nspawn.pid"
        if pidfile.exists():
            with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
                os.killpg(int(pidfile.read_text()), signal.SIGKILL)
                time.sleep(0.5)
        for server in self.servers:
            server.shutdown()
            server.server_close()
        self.servers.clear()
        for _ in range(3):
            if run(["mountpoint", "-q", str(self.merged)], check=False).returncode != 0:
                break
            run(["umount", "-l", str(self.merged)], check=False)
        run(["ip", "netns", "del", self.ns], check=False)
        run(["ip", "link", "del", self.veth], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def boot(self, authorized_key: str, timeout: float = 60) -> None:
        self.cleanup()
        lower = rootfs(self.variant)
        for sub in ("upper", "work", "merged", "docker"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={lower},upperdir={self.dir / 'upper'},workdir={self.dir / 'work'}",
                str(self.merged),
            ]
        )
        ssh_dir = self.merged / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(authorized_key.strip() + "\n")
        _writable_cgroups(self.merged)
        if self.variant == "plain":
            # the only package source is our local repository on the test network
            (self.merged / "etc/apt/sources.list").write_text(
                f"deb [trusted=yes] http://{self.gateway}:8080/ ./\n"
            )
            for extra in (self.merged / "etc/apt/sources.list.d").glob("*"):
                extra.unlink()
        self._network()
        if self.variant == "plain":
            self.serve(apt_repo(), 8080)
        self._argv = [
            "systemd-nspawn",
            "-D",
            str(self.merged),
            "--boot",
            "--register=no",
            "--keep-unit",
            "--capability=all",
            "--system-call-filter=add_key keyctl bpf",
            f"--network-namespace-path=/run/netns/{self.ns}",
            f"--bind={self.dir / 'docker'}:/var/lib/docker",
            "-M",
            self.name,
        ]
        self._stopping = False
        self._launch()
        threading.Thread(target=self._supervise, daemon=True).start()
        self.wait_port(22, timeout)

    def _launch(self) -> None:
        log = open(self.dir / "console.log", "ab")  # noqa: SIM115 - lives as long as the host
        self.process = subprocess.Popen(
            self._argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        (self.dir / "nspawn.pid").write_text(str(self.process.pid))

    def _supervise(self) -> None:
        """A reboot inside the container ends nspawn with code 133: boot it again, as a
        machine would come back after `shutdown -r now`."""
        while True:
            process = self.process
            if process is None:
                return
            code = process.wait()
            if code != 133 or self._stopping:
                return
            self._launch()

    def _network(self) -> None:
        run(["ip", "netns", "add", self.ns])
        run(
            [
                "ip",
                "link",
                "add",
                self.veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                self.ns,
            ]
        )
        run(["ip", "addr", "add", f"{self.gateway}/30", "dev", self.veth])
        run(["ip", "link", "set", self.veth, "up"])
        run(["ip", "-n", self.ns, "addr", "add", f"{self.ip}/30", "dev", "eth0"])
        run(["ip", "-n", self.ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", self.ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.ns, "route", "add", "default", "via", self.gateway])
        # /proc/sys is read-only inside nspawn; dockerd only writes ip_forward when it is 0.
        run(["ip", "netns", "exec", self.ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"])

    def serve(self, directory: Path, port: int) -> None:
        handler = _quiet_handler(directory)
        server = http.server.ThreadingHTTPServer((self.gateway, port), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)

    def wait_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((self.ip, port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    console = (self.dir / "console.log").read_text(errors="replace")[-2000:]
                    raise TimeoutError(
                        f"{self.name}: port {port} not open; console:\n{console}"
                    ) from None
                if self.process is not None and self.process.poll() is not None:
                    console = (self.dir / "console.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{self.name}: nspawn exited; console:\n{console}") from None
                time.sleep(0.2)

    def exec(self, command: str) -> subprocess.CompletedProcess[str]:
        """Run `command` inside the host, as root, without going through our SSH code."""
        assert self.process is not None
        leader = run(["pgrep", "-P", str(self.process.pid)], check=False).stdout.split()
        if not leader:
            raise RuntimeError(f"{self.name}: no init process")
        return run(
            [
                "nsenter",
                "-t",
                leader[0],
                "-m",
                "-u",
                "-i",
                "-n",
                "-p",
                "--",
                "/bin/sh",
                "-c",
                command,
            ],
            check=False,
        )


@dataclass(frozen=True)
class Lan:
    """A bridge in a network namespace that test hosts get a second interface on (eth1):
    the machine's own namespace does not forward between test hosts, and VMs on the same
    bridge reach them directly (swarm nodes of both kinds)."""

    netns: str
    bridge: str
    prefix: str  # the first three octets of its /24; a host is <prefix>.<its index>

    def address(self, host: TestHost) -> str:
        if not 1 < host.index < 100:  # a libvirt network's DHCP range starts above
            raise ValueError(f"host index {host.index} has no address on a LAN")
        return f"{self.prefix}.{host.index}"

    def port(self, host: TestHost) -> str:
        return f"lan{host.index}"

    def join(self, hosts: list[TestHost]) -> None:
        for host in hosts:
            run(["ip", "-n", host.ns, "link", "add", "eth1", "type", "veth", "peer", "name",
                 self.port(host), "netns", self.netns])  # fmt: skip
            run(["ip", "-n", self.netns, "link", "set", self.port(host), "master", self.bridge,
                 "up"])  # fmt: skip
            run(["ip", "-n", host.ns, "addr", "add", f"{self.address(host)}/24", "dev", "eth1"])
            run(["ip", "-n", host.ns, "link", "set", "eth1", "up"])

    def leave(self, hosts: list[TestHost]) -> None:
        """Take the hosts' ports off the bridge (their eth1 go with them)."""
        for host in hosts:
            run(["ip", "-n", self.netns, "link", "del", self.port(host)], check=False)


def _writable_cgroups(root: Path) -> None:
    """On a cgroup v1 host nspawn mounts the controllers read-only, so runc cannot make the
    containers' cgroups. A unit that runs before the engine remounts them writable."""
    unit = root / "etc/systemd/system/cgroup-rw.service"
    unit.write_text(
        "[Unit]\nDefaultDependencies=no\nBefore=containerd.service docker.service\n"
        "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'for d in /sys/fs/cgroup/*/; do "
        'mount -o remount,bind,rw "$d"; done; true\'\n'
        "[Install]\nWantedBy=multi-user.target\n"
    )
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "cgroup-rw.service"
    if not link.is_symlink():
        link.symlink_to("/etc/systemd/system/cgroup-rw.service")


def _quiet_handler(directory: Path) -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def busybox_tarball(dest: Path) -> Path:
    """A one-binary image root (busybox-static from Debian) for `docker import`."""
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        raise RuntimeError("busybox-static is not installed")
    root = dest / "busybox-root"
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, root / "bin/busybox")
    for applet in ("sh", "echo", "cat", "sleep", "hostname", "tar", "ls", "mkdir"):
        link = root / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    tar = dest / "busybox.tar"
    run(["tar", "-C", str(root), "-cf", str(tar), "."])
    return tar
