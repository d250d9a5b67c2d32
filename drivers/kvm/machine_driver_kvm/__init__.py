"""The `kvm` driver: a local VM through libvirt, booted from machine-os or a cloud image.

Flags are those of docker-machine's kvm driver (kvm-memory, kvm-disk-size, kvm-cpu-count,
kvm-network, kvm-boot2docker-url, kvm-cache-mode, kvm-io-mode, kvm-ssh-user) plus kvm-image,
kvm-connection-uri and kvm-accel. The disk is a copy-on-write overlay on the cached image, in
libvirt's storage pool "machine"; the NoCloud seed gives the guest its login key, its host key
(already pinned by the core) and its hostname. The DHCP lease is pinned to the VM's MAC so its
address, and with it the server certificate, survive restarts.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from machine.driver import (
    DEFAULT_ENGINE_PORT,
    BaseConfig,
    CreateRequest,
    DriverError,
    Endpoint,
    Features,
    Learned,
    PreCreateCheckFailed,
    State,
    attempts,
    flag,
    frozen,
    replace,
)
from machine.driver import Driver as BaseDriver

IP_WAIT = 300.0  # seconds, when the core gave no deadline (software emulation boots slowly)
STOP_WAIT = 90.0  # ACPI shutdown, then force


@frozen
class KVMConfig(BaseConfig):
    SSHUser: str = flag("kvm-ssh-user", default="docker", env="KVM_SSH_USER", help="SSH username")
    Memory: int = flag(
        "kvm-memory", default=1024, env="KVM_MEMORY", help="Size of memory for host in MB"
    )
    DiskSize: int = flag(
        "kvm-disk-size", default=20000, env="KVM_DISK_SIZE", help="Size of disk for host in MB"
    )
    CPU: int = flag("kvm-cpu-count", default=1, env="KVM_CPU_COUNT", help="Number of CPUs")
    Network: str = flag(
        "kvm-network",
        default="default",
        env="KVM_NETWORK",
        help="Name of the libvirt network to connect to "
        "(docker-machines: a private one, made when needed)",
    )
    Image: str = flag(
        "kvm-image",
        default="machine-os",
        env="KVM_IMAGE",
        help="Boot image: machine-os, a catalog name (debian-12, ubuntu-24.04), "
        "a URL or a file (URL#sha256:<hex> pins its digest)",
    )
    Boot2DockerURL: str = flag(
        "kvm-boot2docker-url",
        default="",
        env="KVM_BOOT2DOCKER_URL",
        help="The image to boot (docker-machine's name for --kvm-image)",
    )
    CacheMode: str = flag(
        "kvm-cache-mode",
        default="default",
        env="KVM_CACHE_MODE",
        help="Disk cache mode: default|none|writethrough|writeback|unsafe",
    )
    IOMode: str = flag(
        "kvm-io-mode", default="threads", env="KVM_IO_MODE", help="Disk IO mode: threads|native"
    )
    connectionString: str = flag(
        "kvm-connection-uri",
        default="qemu:///system",
        env="KVM_CONNECTION_URI",
        help="libvirt connection URI (qemu:///session needs no root: user-mode networking)",
    )
    Accel: str = flag(
        "kvm-accel",
        default="auto",
        env="KVM_ACCEL",
        help="auto|kvm|tcg: hardware acceleration, or software emulation",
    )
    Boot: str = flag(
        "kvm-boot",
        default="kernel",
        env="KVM_BOOT",
        help="kernel: boot the image's kernel directly (faster; images that ship one, such as "
        "machine-os) | firmware: boot the disk by BIOS, as other hypervisors do",
    )
    # state, set by create
    DomainName: str = ""
    MAC: str = ""
    DomainType: str = ""
    EnginePort: int = DEFAULT_ENGINE_PORT
    ForwardSSHPort: int = 0  # qemu:///session: 127.0.0.1 ports forwarded to the guest
    ForwardEnginePort: int = 0


class Driver(BaseDriver[KVMConfig]):
    name = "kvm"
    aliases = ("libvirt",)
    Config = KVMConfig
    features = Features(
        provisions_engine=True,
        fresh_host=True,
        makes_ssh_key=True,
        seeds_host_key=True,
        image_formats=("qcow2",),  # the overlay's backing file in libvirt's pool
        direct_boot=True,
    )
    help = "Local VMs through libvirt (QEMU/KVM)"
    sdk = ("libvirt",)  # libvirt-python
    extra = "kvm"

    @property
    def domain_name(self) -> str:
        # docker-machine's kvm driver named the domain after the machine
        return self.config.DomainName or self.config.MachineName

    @property
    def session(self) -> bool:
        return is_session(self.config.connectionString)

    # --- create -----------------------------------------------------------------------------

    def pre_create_check(self) -> None:
        if self.config.Accel not in ("auto", "kvm", "tcg"):
            raise PreCreateCheckFailed(
                f"--kvm-accel must be auto, kvm or tcg, not {self.config.Accel}"
            )
        cfg = self.config
        for option, value, low, high in (
            ("--kvm-memory", cfg.Memory, 256, 1 << 24),  # MB, up to 16 TiB
            ("--kvm-cpu-count", cfg.CPU, 1, 1024),
            ("--kvm-disk-size", cfg.DiskSize, 2000, 1 << 30),  # MB, up to 1 PiB
        ):
            if not low <= value <= high:
                raise PreCreateCheckFailed(f"{option} must be from {low} to {high}, not {value}")
        if cfg.CacheMode not in ("default", "none", "writethrough", "writeback", "unsafe"):
            raise PreCreateCheckFailed(
                "--kvm-cache-mode must be default, none, writethrough, writeback or unsafe"
            )
        if cfg.IOMode not in ("threads", "native"):
            raise PreCreateCheckFailed("--kvm-io-mode must be threads or native")
        if cfg.Boot not in ("kernel", "firmware"):
            raise PreCreateCheckFailed("--kvm-boot must be kernel or firmware")
        if why := self.ssh_problem(cfg):
            raise PreCreateCheckFailed(f"--kvm-ssh-user: {why.split(': ', 1)[1]}")
        from machine_driver_kvm.virt import Virt

        # Everything the create needs from outside is checked now, so that a failure makes
        # nothing: libvirt answers and has the network (the core fetches the image next).
        virt = Virt(cfg.connectionString)  # a DriverError says how to start libvirtd
        try:
            if not virt.session and not virt.has_network(cfg.Network):
                hint = (
                    "libvirt's default network is missing: install it (Debian and Ubuntu: "
                    "libvirt-daemon-config-network), or use --kvm-network docker-machines "
                    "(made when needed)."
                    if cfg.Network == "default"
                    else "Create it, or use --kvm-network default (or docker-machines, which "
                    "is made when needed)."
                )
                raise PreCreateCheckFailed(
                    f'libvirt network "{cfg.Network}" does not exist', hint=hint
                )
        finally:
            virt.close()

    def image_ref(self) -> str:
        return self.config.Boot2DockerURL or self.config.Image

    def create(self, request: CreateRequest) -> Learned:
        from machine import seed
        from machine_driver_kvm import xml
        from machine_driver_kvm.accel import choose
        from machine_driver_kvm.virt import Virt

        deadline = request.deadline or time.monotonic() + IP_WAIT
        image = request.image
        if image is None:
            raise DriverError("the kvm driver was given no boot image")
        chosen = self.config
        learned: dict[str, Any] = {
            "SSHKeyPath": str(request.ssh_key_path),
            "EnginePort": request.engine_port,
            "DomainName": f"machine-{chosen.MachineName}",
            "MAC": "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3)),
        }
        if chosen.SSHUser == "docker" and image.ssh_user != "docker":
            learned["SSHUser"] = image.ssh_user  # the image's own login user (a cloud image)
        virt = Virt(chosen.connectionString)
        try:
            if virt.session:
                learned["ForwardSSHPort"] = _free_port()
                learned["ForwardEnginePort"] = _free_port()
            accel, why = choose(chosen.Accel, image)
            if why:
                request.note(why)
            learned["DomainType"] = accel
            cfg = replace(chosen, **learned)  # what the VM is made from
            base = virt.upload_file(f"base-{image.disk.name}.qcow2", image.disk, "qcow2", deadline)
            kernel = initrd = ""
            if image.kernel and image.initrd and cfg.Boot == "kernel":
                kernel = virt.upload_file(
                    f"kernel-{image.kernel.name}", image.kernel, "raw", deadline
                )
                initrd = virt.upload_file(
                    f"initrd-{image.initrd.name}", image.initrd, "raw", deadline
                )
            disk = virt.overlay(f"{cfg.DomainName}.qcow2", base, cfg.DiskSize * (1 << 20))
            request.record("volume", f"{cfg.DomainName}.qcow2")
            forwards: tuple[tuple[int, int], ...] = ()
            if virt.session:
                forwards = ((cfg.ForwardSSHPort, 22), (cfg.ForwardEnginePort, cfg.EnginePort))
            else:
                net = virt.network(cfg.Network)
                if request.engine_files is not None:
                    # the address first: the engine's certificate, seeded below, names it
                    def journaled(ip: str) -> None:  # before it exists: a kill leaks nothing
                        request.record("lease", f"{cfg.MAC} {ip}")

                    ip = virt.reserve_address(net, cfg.MAC, cfg.MachineName, journaled)
                    cfg = replace(cfg, IPAddress=ip)
            engine_files: tuple[tuple[str, bytes, int], ...] = ()
            if request.engine_files is not None:
                wanted = request.engine_files(_endpoint(cfg))
                engine_files = tuple((path, data, mode) for path, (data, mode) in wanted.items())
            seed_iso = seed.iso(
                seed.Seed(
                    hostname=cfg.MachineName,
                    user=cfg.SSHUser,
                    authorized_key=request.ssh_public_key,
                    host_key_private=request.host_key_private,
                    host_key_public=request.host_key_public,
                    instance_id=f"{cfg.DomainName}-{secrets.token_hex(4)}",
                    files=engine_files,
                )
            )
            seed_path = virt.upload_bytes(f"{cfg.DomainName}-seed.iso", seed_iso)
            request.record("volume", f"{cfg.DomainName}-seed.iso")
            spec = xml.DomainSpec(
                name=cfg.DomainName,
                memory_mb=cfg.Memory,
                cpus=cfg.CPU,
                accel=accel,
                disk=disk,
                seed=seed_path,
                network="" if virt.session else cfg.Network,
                mac=cfg.MAC,
                console_log=str(request.machine_dir / "console.log"),
                kernel=kernel,
                initrd=initrd,
                cmdline=image.cmdline,
                cache_mode=cfg.CacheMode,
                io_mode=cfg.IOMode,
                forwards=forwards,
            )
            dom = virt.conn.defineXML(xml.domain(spec))
            request.record("domain", cfg.DomainName)
            dom.create()
            learned["IPAddress"] = _address(cfg, virt, dom, deadline, request.record)
        finally:
            virt.close()
        return learned

    def discard_seed(self) -> None:
        """The seed volume held the engine's TLS key: it is detached from the domain (from its
        next boot on) and deleted. The guest has applied it, and keeps its copies."""
        from machine_driver_kvm.virt import Virt

        cfg = self.config
        virt = Virt(cfg.connectionString)
        try:
            name = f"{cfg.DomainName}-seed.iso"
            vol = virt.volume(name)
            dom = virt.domain(cfg.DomainName)
            if vol is not None and dom is not None:
                from machine_driver_kvm import xml

                try:
                    dom.detachDeviceFlags(
                        xml.seed_disk(str(vol.path())), virt.lv.VIR_DOMAIN_AFFECT_CONFIG
                    )
                except virt.lv.libvirtError as exc:
                    raise DriverError(f"detaching the seed volume {name}: {exc}") from None
            virt.delete_volume(name)
        finally:
            virt.close()

    def adopt(self, resources: Sequence[tuple[str, str]]) -> Learned:
        """What a failed or killed create had made (its journal): the domain and its volumes
        are named after DomainName, and the pinned lease is "MAC IP"."""
        cfg = self.config
        learned: dict[str, Any] = {}
        domains = [
            ident.removesuffix("-seed.iso").removesuffix(".qcow2")
            for kind, ident in resources
            if kind in ("domain", "volume")
        ]
        if domains and not cfg.DomainName:
            learned["DomainName"] = domains[0]
        leases = [ident for kind, ident in resources if kind == "lease"]
        if leases and not (cfg.MAC and cfg.IPAddress):
            learned["MAC"], _, learned["IPAddress"] = leases[-1].partition(" ")
        return learned

    # --- the machine ------------------------------------------------------------------------

    def endpoint(self) -> Endpoint:
        return _endpoint(self.config)

    def url(self) -> str:
        return self.endpoint().docker_url if self.config.IPAddress else ""

    def state(self) -> State:
        return self.states([self])[0]

    @classmethod
    def states(cls, drivers: Sequence[BaseDriver]) -> list[State]:
        """One libvirt connection per URI, one listing of all domains for every machine."""
        from machine_driver_kvm.virt import Virt

        out: dict[int, State] = {}
        by_uri: dict[str, list[tuple[int, Driver]]] = {}
        for i, d in enumerate(drivers):
            assert isinstance(d, Driver)
            by_uri.setdefault(d.config.connectionString, []).append((i, d))
        for uri, group in by_uri.items():
            virt = Virt(uri)  # a DriverError here marks the whole group's rows (listing)
            try:
                domains = {dom.name(): dom for dom in virt.conn.listAllDomains(0)}
                for i, d in group:
                    dom = domains.get(d.domain_name)
                    out[i] = _state(virt, dom.state()[0]) if dom else State.NOT_FOUND
            finally:
                virt.close()
        return [out[i] for i in range(len(drivers))]

    def start(self) -> Learned:
        from machine_driver_kvm.virt import Virt

        virt = Virt(self.config.connectionString)
        try:
            dom = self._domain(virt)
            if not virt.session:
                virt.network(self.config.Network)  # a network stopped since must run again
            dom.create()
            return {"IPAddress": _address(self.config, virt, dom, time.monotonic() + IP_WAIT)}
        finally:
            virt.close()

    def stop(self) -> None:
        from machine_driver_kvm.virt import Virt

        virt = Virt(self.config.connectionString)
        try:
            dom = self._domain(virt)
            dom.shutdown()  # ACPI: the guest shuts down cleanly
            for _ in attempts(time.monotonic() + STOP_WAIT, first=1.0, factor=1.0):
                if not dom.isActive():
                    break
            if dom.isActive():
                dom.destroy()  # it did not listen: force it off
        finally:
            virt.close()

    def kill(self) -> None:
        from machine_driver_kvm.virt import Virt

        virt = Virt(self.config.connectionString)
        try:
            dom = self._domain(virt)
            if dom.isActive():
                dom.destroy()
        finally:
            virt.close()

    def restart(self) -> Learned:
        self.stop()
        return self.start()

    def remove(self) -> None:
        """Domain, its disk and seed, its pinned lease, and the private network if unused."""
        from machine_driver_kvm.virt import Virt

        cfg = self.config
        virt = Virt(cfg.connectionString)
        try:
            dom = virt.domain(cfg.DomainName) if cfg.DomainName else None
            if dom is not None:
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
            if cfg.DomainName:
                virt.delete_volume(f"{cfg.DomainName}.qcow2")
                virt.delete_volume(f"{cfg.DomainName}-seed.iso")
            if not virt.session and cfg.MAC and cfg.IPAddress:
                virt.unpin_lease(cfg.Network, cfg.MAC, cfg.IPAddress, cfg.MachineName)
                virt.remove_private_network_if_unused(cfg.Network)
        finally:
            virt.close()

    def _domain(self, virt: object) -> Any:
        from machine_driver_kvm.virt import Virt

        assert isinstance(virt, Virt)
        dom = virt.domain(self.domain_name)
        if dom is None:
            raise DriverError(f'the VM of machine "{self.config.MachineName}" no longer exists')
        return dom


def _endpoint(cfg: KVMConfig) -> Endpoint:
    if is_session(cfg.connectionString):
        return Endpoint(
            "127.0.0.1",
            "127.0.0.1",
            cfg.ForwardSSHPort,
            cfg.SSHUser,
            cfg.SSHKeyPath,
            cfg.ForwardEnginePort,
            engine_listen_port=cfg.EnginePort,
        )
    return Endpoint(cfg.IPAddress, cfg.IPAddress, 22, cfg.SSHUser, cfg.SSHKeyPath, cfg.EnginePort)


def _address(
    cfg: KVMConfig,
    virt: object,
    dom: object,
    deadline: float,
    record: Callable[[str, str], None] | None = None,
) -> str:
    """The VM's address: its pinned lease, or the lease it got, pinned now."""
    from machine_driver_kvm.virt import Virt

    assert isinstance(virt, Virt)
    if virt.session:
        return "127.0.0.1"
    net = virt.network(cfg.Network)
    # A reservation is authoritative, and may have changed while the VM was off (someone
    # edited or re-created the network): the VM gets that address, and a stale lease
    # from its last boot must not be mistaken for it.
    pinned = virt.pinned_ip(net, cfg.MAC)
    if pinned:
        return pinned
    ip = virt.wait_for_ip(dom, cfg.Network, cfg.MAC, deadline)
    if record is not None:  # journaled first: a create killed now leaves no reservation
        record("lease", f"{cfg.MAC} {ip}")
    virt.pin_lease(net, cfg.MAC, ip, cfg.MachineName)
    return ip


def _state(virt: object, code: int) -> State:
    from machine_driver_kvm.virt import Virt

    assert isinstance(virt, Virt)
    lv = virt.lv
    return {
        lv.VIR_DOMAIN_RUNNING: State.RUNNING,
        lv.VIR_DOMAIN_BLOCKED: State.RUNNING,
        lv.VIR_DOMAIN_PAUSED: State.PAUSED,
        lv.VIR_DOMAIN_SHUTDOWN: State.STOPPING,
        lv.VIR_DOMAIN_SHUTOFF: State.STOPPED,
        lv.VIR_DOMAIN_CRASHED: State.ERROR,
        lv.VIR_DOMAIN_PMSUSPENDED: State.SAVED,
    }.get(code, State.NONE)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_session(uri: str) -> bool:
    """A session URI (qemu:///session, qemu+unix:///session?socket=...): user-mode networking."""
    from urllib.parse import urlsplit

    return urlsplit(uri).path.rstrip("/") == "/session"
