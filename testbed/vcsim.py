"""vcsim, govmomi's vSphere API simulator, built here from Debian's packages
(golang-github-vmware-govmomi-dev, golang-go) and run on 127.0.0.1 with a certificate of our
own; and a private dockerd for the VMs vcsim runs as containers.

vcsim runs a VM whose ExtraConfig holds `RUN.container` (a JSON list: docker run arguments and
an image) as a container when it powers on, reports the container's address as the guest's IP,
and passes each `guestinfo.*` key to it as a `VMX_GUESTINFO_*` variable. It calls the `docker`
CLI: DOCKER_HOST points it at our own dockerd (its own socket, data, bridge 10.234.0.0/24 and no
iptables, forwarding or masquerading: the machine's network is left as it was).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from testbed.hosts import CACHE

LAUNCHER = Path(__file__).resolve().parent / "vcsim" / "main.go"
GOPATH_SYSTEM = Path("/usr/share/gocode")
BRIDGE = "mt-vcsim0"
BRIDGE_CIDR = "10.234.0.1/24"
BUSYBOX_IMAGE = "machine-test/busybox"  # vcsim's DMI volume helper, and the simplest guest


def guest(image: str, *args: str) -> str:
    """The --vmwarevsphere-cfgparam that has vcsim run a VM as a container of `image` (this
    kernel has no DMI, so /sys/class is a tmpfs where vcsim's DMI volume can be mounted)."""
    return _run_container(["--tmpfs", "/sys/class", image, *args])


def _run_container(docker_run_args: list[str]) -> str:
    import json

    return "RUN.container=" + json.dumps(docker_run_args)


def binary() -> Path:
    """The vcsim launcher, built once per launcher source and govmomi version."""
    govmomi = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "golang-github-vmware-govmomi-dev"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    digest = hashlib.sha256(LAUNCHER.read_bytes() + govmomi.encode()).hexdigest()[:16]
    out = CACHE / "vcsim" / digest / "vcsim"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.exists():
            return out
        tree = out.parent / "gopath"
        source = tree / "src" / "machinevcsim"
        source.mkdir(parents=True, exist_ok=True)
        shutil.copy(LAUNCHER, source / "main.go")
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(out.parent),
            "GO111MODULE": "off",
            "GOPROXY": "off",
            "GOFLAGS": "",
            "GOPATH": f"{tree}:{GOPATH_SYSTEM}",
            "GOCACHE": str(CACHE / "vcsim" / "go-build"),
        }
        partial = out.with_suffix(".partial")
        subprocess.run(
            ["go", "build", "-o", str(partial), "machinevcsim"],
            env=env,
            check=True,
            capture_output=True,
            timeout=1200,
        )
        partial.rename(out)
    return out


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    user: str
    password: str
    ca_file: Path  # the self-signed certificate vcsim serves (its own CA)
    thumbprint: str  # its SHA-256, hex
    datastores: Path  # where vcsim keeps its datastores' files (one folder each)

    def files_of(self, name: str) -> list[Path]:
        """What any datastore holds for a VM named `name` (its folder and files)."""
        return sorted(p for p in self.datastores.glob(f"*/{name}*"))


def _certificate(folder: Path) -> tuple[Path, Path, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vcsim.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "vcsim.pem", folder / "vcsim-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    der = cert.public_bytes(serialization.Encoding.DER)
    return cert_path, key_path, hashlib.sha256(der).hexdigest()


@contextlib.contextmanager
def running(
    folder: Path,
    esx: bool = False,
    docker_host: str = "",
    password: str = "vcsim-pass-1",  # noqa: S107 - the simulator's, made up here
) -> Iterator[Endpoint]:
    """vcsim in `folder` (its datastores are folders there), stopped by PID afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key, thumbprint = _certificate(folder)
    tmp = folder / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp), "VCSIM_BUSYBOX": BUSYBOX_IMAGE}
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    argv = [str(binary()), "-cert", str(cert), "-key", str(key)]
    argv += ["-user", "vcsim-user", "-password", password] + (["-esx"] if esx else [])
    log = open(folder / "vcsim.log", "wb")  # noqa: SIM115 - open while vcsim runs
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()  # vcsim prints its URL once ready
        if not line.startswith("https://"):
            raise RuntimeError(f"vcsim did not start: {(folder / 'vcsim.log').read_text()}")
        netloc = line.removeprefix("https://").split("/", 1)[0]
        host, _, port = netloc.rpartition(":")
        yield Endpoint(host, int(port), "vcsim-user", password, cert, thumbprint, tmp)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextlib.contextmanager
def dockerd(folder: Path) -> Iterator[str]:
    """A dockerd of our own (socket, data, exec root, bridge), for vcsim's container VMs; its
    DOCKER_HOST. Stopped by PID afterwards, with every container it ran."""
    import tempfile

    folder.mkdir(parents=True, exist_ok=True)
    _bridge()
    # unix socket paths have at most 104 bytes: the sockets live in a short folder of ours
    data = CACHE / "vcsim-docker"  # images kept between runs (guest images take minutes)
    # one dockerd per data root: a second test run (CI beside a developer) waits its turn
    data.parent.mkdir(parents=True, exist_ok=True)
    held = open(CACHE / ".vcsim-docker.lock", "w")  # noqa: SIM115 - held while dockerd runs
    fcntl.flock(held, fcntl.LOCK_EX)
    run = Path(tempfile.mkdtemp(prefix="mtd-", dir="/tmp"))
    socket = run / "docker.sock"
    argv = [
        "dockerd",
        *("--host", f"unix://{socket}", "--data-root", str(data)),
        *("--exec-root", str(run / "exec"), "--pidfile", str(run / "dockerd.pid")),
        *("--bridge", BRIDGE, "--iptables=false", "--ip-forward=false", "--ip-masq=false"),
        *("--storage-driver", "overlay2", "--log-level", "warn"),
    ]
    log = open(folder / "dockerd.log", "wb")  # noqa: SIM115 - open while dockerd runs
    process = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
    host = f"unix://{socket}"
    try:
        deadline = time.monotonic() + 120
        while True:
            ready = subprocess.run(
                ["docker", "-H", host, "version"], capture_output=True, timeout=30
            )
            if ready.returncode == 0:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start: {(folder / 'dockerd.log').read_text()}")
            time.sleep(0.5)
        _busybox(host)
        yield host
    finally:
        for cid in subprocess.run(
            ["docker", "-H", host, "ps", "-aq"], capture_output=True, text=True
        ).stdout.split():
            subprocess.run(["docker", "-H", host, "rm", "-f", "-v", cid], capture_output=True)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(run, ignore_errors=True)
        held.close()  # releases the lock


def _bridge() -> None:
    """Our bridge (made once; it holds no addresses but ours)."""
    if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0:
        subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", BRIDGE_CIDR, "dev", BRIDGE], check=True)
    subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)


def _busybox(host: str) -> None:
    """An image with busybox-static and its applets: vcsim writes the VM's DMI files with it
    (tar), and it is the smallest guest a test can run."""
    import tempfile

    from testbed.hosts import busybox_tarball

    present = subprocess.run(
        ["docker", "-H", host, "image", "inspect", BUSYBOX_IMAGE], capture_output=True
    )
    if present.returncode == 0:
        return
    with tempfile.TemporaryDirectory() as tmp:
        tar = busybox_tarball(Path(tmp))
        subprocess.run(
            ["docker", "-H", host, "import", str(tar), BUSYBOX_IMAGE],
            check=True,
            capture_output=True,
        )


# --- a real guest: Debian with systemd, sshd, cloud-init and the engine, as a container ------

GUEST_INIT = """#!/bin/sh
# PID 1 of a vcsim VM's container: make what systemd and the engine need, then become systemd.
# cgroup v1 controllers are mounted read-only in a container: the engine must create cgroups.
mount -o remount,rw /sys/fs/cgroup 2>/dev/null
for d in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$d" 2>/dev/null; done
# /sys/class is a tmpfs (vcsim mounts its DMI volume there; this kernel has no DMI): bring the
# real classes back beside it
mkdir -p /run/sysfs && mount -t sysfs sysfs /run/sysfs 2>/dev/null
for c in /run/sysfs/class/*; do
    n=${c##*/}
    [ "$n" = dmi ] && continue
    mkdir -p "/sys/class/$n" && mount --bind "$c" "/sys/class/$n"
done
exec /sbin/init
"""

# systemd hands PID 1's environment (vcsim's VMX_GUESTINFO_*) to no service: copy it for
# cloud-init, whose VMware data source reads those variables
VMX_ENV_UNIT = """[Unit]
DefaultDependencies=no
Before=cloud-init-local.service
[Service]
Type=oneshot
ExecStart=/bin/sh -c "tr '\\\\0' '\\\\n' < /proc/1/environ | grep '^VMX_' > /run/machine-vmx.env"
RemainAfterExit=yes
[Install]
WantedBy=cloud-init-local.service
"""

CLOUD_CFG = """datasource_list: [VMware, None]
network: {config: disabled}
locale: false
"""

GUEST_ARGS = (
    # --privileged needs CAP_SYS_RESOURCE, which these machines' bounding set lacks
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt",
    "seccomp=unconfined",
    "--cgroupns=private",
    "--sysctl",
    "net.ipv4.ip_forward=1",
    "--stop-signal=SIGRTMIN+3",  # systemd halts on it
    "--tmpfs",
    "/run",
    "--tmpfs",
    "/sys/class",
)


def _guest_recipe() -> str:
    from testbed.hosts import VARIANTS

    text = GUEST_INIT + VMX_ENV_UNIT + CLOUD_CFG + VARIANTS["vsphere-guest"]
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def guest_image(docker_host: str) -> str:
    """The guest image in our dockerd, built once per recipe (its root file system is
    testbed.hosts' "vsphere-guest" variant)."""
    import io
    import tarfile

    from testbed.hosts import rootfs

    tag = f"machine-test/vsphere-guest:{_guest_recipe()}"
    present = subprocess.run(
        ["docker", "-H", docker_host, "image", "inspect", tag], capture_output=True
    )
    if present.returncode == 0:
        return tag
    root = rootfs("vsphere-guest")
    extra = {
        "sbin/machine-guest-init": (GUEST_INIT, 0o755),
        "etc/systemd/system/machine-vmx-env.service": (VMX_ENV_UNIT, 0o644),
        "etc/cloud/cloud.cfg.d/90-machine.cfg": (CLOUD_CFG, 0o644),
        "etc/machine-id": ("", 0o444),
    }
    for unit in ("cloud-init-local", "cloud-init", "cloud-config", "cloud-final"):
        extra[f"etc/systemd/system/{unit}.service.d/machine-vmx.conf"] = (
            "[Service]\nEnvironmentFile=-/run/machine-vmx.env\n",
            0o644,
        )
    masked = [
        "getty@tty1.service",
        "console-getty.service",
        "systemd-sysctl.service",
        "ssh-hostkeys.service",  # cloud-init writes the seeded host key
        "systemd-udevd.service",
    ]
    links = {f"etc/systemd/system/{unit}": "/dev/null" for unit in masked}
    links["etc/systemd/system/cloud-init-local.service.wants/machine-vmx-env.service"] = (
        "/etc/systemd/system/machine-vmx-env.service"
    )
    skip = set(extra) | set(links)
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as tar:
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).as_posix()
            if rel in skip or rel == ".complete":
                continue
            tar.add(path, arcname=rel, recursive=False)
        for rel, (text, mode) in extra.items():
            data = text.encode()
            info = tarfile.TarInfo(rel)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        for rel, target in links.items():
            info = tarfile.TarInfo(rel)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    subprocess.run(
        [
            *("docker", "-H", docker_host, "import"),
            *("--change", 'CMD ["/sbin/machine-guest-init"]'),
            *("--change", "VOLUME /var/lib/docker"),
            "-",
            tag,
        ],
        input=stream.getvalue(),
        check=True,
        capture_output=True,
        timeout=1200,
    )
    return tag


def guest_network(docker_host: str) -> str:
    """A user-defined network on our bridge's range: each VM gets a fixed address (vcsim reads a
    container's address only at its first power-on)."""
    name = "mt-vcsim-guests"
    present = subprocess.run(
        ["docker", "-H", docker_host, "network", "inspect", name], capture_output=True
    )
    if present.returncode != 0:
        subprocess.run(
            [
                *("docker", "-H", docker_host, "network", "create", "--driver", "bridge"),
                *("--subnet", "10.234.1.0/24", "--gateway", "10.234.1.1"),
                *("-o", "com.docker.network.bridge.name=mt-vcsim1"),
                *("-o", "com.docker.network.bridge.enable_ip_masquerade=false"),
                name,
            ],
            check=True,
            capture_output=True,
        )
    return name


def guest_param(image: str, hostname: str, network: str, ip: str) -> str:
    """The cfgparam for a VM that runs the real guest (systemd, sshd, cloud-init, the engine)."""
    return _run_container(
        [*GUEST_ARGS, "--hostname", hostname, "--network", network, "--ip", ip, image]
    )
