"""The `virtualbox` driver: a local VM in VirtualBox, driven through VBoxManage.

docker-machine's flags, variables and config fields, so machines it made keep working. The VM
boots machine-os (or the image the user names) converted once to VDI; its seed, on a DVD
drive, carries the login key, the host key the core already pinned and the hostname (no
"format-me" tar, no default password). NIC 1 is NAT with SSH forwarded from a port of
127.0.0.1; NIC 2 is on a host-only network, where the engine is reached at an address
reserved for the VM's MAC before it first boots (see hostonly). Every VBoxManage call goes
through vbm.VBoxManage (one lock across processes, VirtualBox's error rules).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
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

STOP_WAIT = 120.0  # ACPI shutdown, then power off (docker-machine waited forever)
NIC_TYPES = ("Am79C970A", "Am79C973", "82540EM", "82543GC", "82545EM", "virtio")
SEED_PORT, DISK_PORT = 0, 1  # SATA ports: docker-machine's layout (its ISO, then the disk)
VTX_MESSAGE = "This computer doesn't have VT-X/AMD-v enabled. Enabling it in the BIOS is mandatory"
STATES = {
    "running": State.RUNNING,
    "paused": State.PAUSED,
    "saved": State.SAVED,
    "poweroff": State.STOPPED,
    "aborted": State.STOPPED,
    "stopping": State.STOPPING,
    "starting": State.STARTING,
    "restoring": State.STARTING,
    "gurumeditation": State.ERROR,
    "stuck": State.ERROR,
}


@frozen
class VirtualBoxConfig(BaseConfig):
    SSHUser: str = "docker"
    CPU: int = flag(
        "virtualbox-cpu-count",
        default=1,
        env="VIRTUALBOX_CPU_COUNT",
        help="number of CPUs for the machine (-1 to use the number of CPUs available)",
    )
    Memory: int = flag(
        "virtualbox-memory",
        default=1024,
        env="VIRTUALBOX_MEMORY_SIZE",
        help="Size of memory for host in MB",
    )
    DiskSize: int = flag(
        "virtualbox-disk-size",
        default=20000,
        env="VIRTUALBOX_DISK_SIZE",
        help="Size of disk for host in MB",
    )
    NatNicType: str = flag(
        "virtualbox-nat-nictype",
        default="82540EM",
        env="VIRTUALBOX_NAT_NICTYPE",
        help="Specify the Network Adapter Type",
    )
    Boot2DockerURL: str = flag(
        "virtualbox-boot2docker-url",
        default="",
        env="VIRTUALBOX_BOOT2DOCKER_URL",
        help="The image to boot: machine-os (default), a catalog name, a URL or a file",
    )
    Boot2DockerImportVM: str = flag(
        "virtualbox-import-boot2docker-vm",
        default="",
        env="VIRTUALBOX_BOOT2DOCKER_IMPORT_VM",
        help="The name of a VM whose disk to copy instead of an image",
    )
    HostDNSResolver: bool = flag(
        "virtualbox-host-dns-resolver",
        default=False,
        env="VIRTUALBOX_HOST_DNS_RESOLVER",
        help="Use the host DNS resolver",
    )
    HostOnlyCIDR: str = flag(
        "virtualbox-hostonly-cidr",
        default="192.168.59.1/24",
        env="VIRTUALBOX_HOSTONLY_CIDR",
        help="Specify the Host Only CIDR",
    )
    HostOnlyNicType: str = flag(
        "virtualbox-hostonly-nictype",
        default="82540EM",
        env="VIRTUALBOX_HOSTONLY_NIC_TYPE",
        help="Specify the Host Only Network Adapter Type",
    )
    HostOnlyPromiscMode: str = flag(
        "virtualbox-hostonly-nicpromisc",
        default="deny",
        env="VIRTUALBOX_HOSTONLY_NIC_PROMISC",
        help="Specify the Host Only Network Adapter Promiscuous Mode",
    )
    UIType: str = flag(
        "virtualbox-ui-type",
        default="headless",
        env="VIRTUALBOX_UI_TYPE",
        help="Specify the UI Type: (gui|sdl|headless|separate)",
    )
    HostOnlyNoDHCP: bool = flag(
        "virtualbox-hostonly-no-dhcp",
        default=False,
        env="VIRTUALBOX_HOSTONLY_NO_DHCP",
        help="Disable the Host Only DHCP Server",
    )
    NoShare: bool = flag(
        "virtualbox-no-share",
        default=False,
        env="VIRTUALBOX_NO_SHARE",
        help="Disable the mount of your home directory",
    )
    DNSProxy: bool = flag(
        "virtualbox-no-dns-proxy",
        default=True,
        env="VIRTUALBOX_NO_DNS_PROXY",
        help="Disable proxying all DNS requests to the host",
        negates=True,
    )
    NoVTXCheck: bool = flag(
        "virtualbox-no-vtx-check",
        default=False,
        env="VIRTUALBOX_NO_VTX_CHECK",
        help="Disable checking for the availability of hardware virtualization before the vm "
        "is started",
    )
    ShareFolder: str = flag(
        "virtualbox-share-folder",
        default="",
        env="VIRTUALBOX_SHARE_FOLDER",
        help="Mount the specified directory instead of the default home location. Format: dir:name",
    )
    # state, learned by create (docker-machine's records have none of it: the VM is found by
    # its name, which was the machine's)
    UUID: str = ""
    HostOnlyInterface: str = ""
    HostOnlyNetwork: str = ""  # the DHCP server's network name
    HostOnlyMAC: str = ""  # 12 hex digits, VirtualBox's form
    EnginePort: int = DEFAULT_ENGINE_PORT


class Driver(BaseDriver[VirtualBoxConfig]):
    name = "virtualbox"
    Config = VirtualBoxConfig
    features = Features(
        provisions_engine=True,
        fresh_host=True,
        makes_ssh_key=True,
        seeds_host_key=True,
        image_formats=("vdi",),
    )
    help = "Local VMs in VirtualBox (VBoxManage)"

    # --- create -----------------------------------------------------------------------------

    def pre_create_check(self) -> None:
        from machine_driver_virtualbox import hostonly, parse
        from machine_driver_virtualbox.vbm import VBoxManage

        cfg = self.config
        _check_flags(cfg)
        vbm = VBoxManage()
        version = vbm.version()
        if version < (5, 0, 0):
            raise PreCreateCheckFailed(
                f"We support Virtualbox starting with version 5. Your VirtualBox install is "
                f'"{".".join(map(str, version))}". Please upgrade at https://www.virtualbox.org'
            )
        if version < (6, 1, 0):
            raise PreCreateCheckFailed(
                f"VirtualBox {'.'.join(map(str, version))} cannot reserve a host-only address "
                "for a VM (DHCP configuration per MAC came with 6.1), and without it the "
                "machine's address and certificate would change on restarts",
                hint="Upgrade VirtualBox to 6.1 or later.",
            )
        if not cfg.NoVTXCheck and not _hardware_virtualization():
            raise PreCreateCheckFailed(
                VTX_MESSAGE,
                hint="Or, when VirtualBox runs guests here anyway, create with "
                "--virtualbox-no-vtx-check.",
            )
        names = parse.vms(vbm("list", "vms")).values()
        if cfg.MachineName in names:
            raise PreCreateCheckFailed(
                f'VirtualBox already has a VM named "{cfg.MachineName}"',
                hint="Remove it in VirtualBox, or choose another machine name.",
            )
        if cfg.Boot2DockerImportVM and cfg.Boot2DockerImportVM not in names:
            raise PreCreateCheckFailed(
                f"--virtualbox-import-boot2docker-vm: VirtualBox has no VM named "
                f'"{cfg.Boot2DockerImportVM}"'
            )
        plan = hostonly.plan(cfg.HostOnlyCIDR)
        interfaces = parse.hostonlyifs(vbm("list", "hostonlyifs"))
        if hostonly.matching(plan, interfaces) is None:  # to be made: will VirtualBox allow it?
            hostonly.check_allowed(plan, version)
            hostonly.check_host_collision(plan, interfaces)

    def image_ref(self) -> str:
        return self.config.Boot2DockerURL or "machine-os"

    def create(self, request: CreateRequest) -> Learned:
        from machine import seed
        from machine_driver_virtualbox import hostonly, parse
        from machine_driver_virtualbox.vbm import VBoxManage

        chosen = self.config
        vbm = VBoxManage()
        mdir = request.machine_dir
        disk = mdir / "disk.vdi"
        seed_iso = mdir / "seed.iso"
        learned: dict[str, Any] = {
            "SSHKeyPath": str(request.ssh_key_path),
            "EnginePort": request.engine_port,
            "HostOnlyMAC": "080027" + secrets.token_hex(3).upper(),
        }
        image = request.image
        if chosen.SSHUser == "docker" and image is not None and image.ssh_user != "docker":
            learned["SSHUser"] = image.ssh_user
        cfg = replace(chosen, **learned)
        # the disk: the image (or the named VM's disk), copied as VDI and grown
        source = self._import_source(vbm) if cfg.Boot2DockerImportVM else None
        if source is None:
            if image is None:
                raise DriverError("the virtualbox driver was given no boot image")
            source = image.disk
        request.record("medium", str(disk))
        vbm("clonemedium", "disk", str(source), str(disk), "--format", "VDI")
        vbm("modifymedium", "disk", str(disk), "--resize", str(cfg.DiskSize))
        seed_iso.write_bytes(
            seed.iso(
                seed.Seed(
                    hostname=cfg.MachineName,
                    user=cfg.SSHUser,
                    authorized_key=request.ssh_public_key,
                    host_key_private=request.host_key_private,
                    host_key_public=request.host_key_public,
                    instance_id=f"{cfg.MachineName}-{secrets.token_hex(4)}",
                )
            )
        )
        made = vbm("createvm", "--basefolder", str(mdir), "--name", cfg.MachineName, "--register")
        vm = parse.created_vm_uuid(made)
        if not vm:
            raise DriverError(f"VBoxManage createvm did not say the new VM's UUID: {made!r}")
        request.record("vm", vm)
        learned["UUID"] = vm
        cpus = cfg.CPU if cfg.CPU >= 1 else min(os.cpu_count() or 1, 32)
        vbm(
            *("modifyvm", vm, "--firmware", "bios", "--bioslogofadein", "off"),
            *("--bioslogofadeout", "off", "--bioslogodisplaytime", "0"),
            *("--biosbootmenu", "disabled", "--ostype", "Linux26_64", "--cpus", str(cpus)),
            *("--memory", str(cfg.Memory), "--acpi", "on", "--ioapic", "on"),
            *("--rtcuseutc", "on", "--natdnshostresolver1", _onoff(cfg.HostDNSResolver)),
            *("--natdnsproxy1", _onoff(cfg.DNSProxy), "--cpuhotplug", "off", "--pae", "on"),
            *("--hpet", "on", "--hwvirtex", "on", "--nestedpaging", "on"),
            *("--largepages", "on", "--vtxvpid", "on", "--accelerate3d", "off"),
            # the disk boots; the DVD is only the seed
            *("--boot1", "disk", "--boot2", "dvd", "--boot3", "none", "--boot4", "none"),
        )
        vbm(
            *("modifyvm", vm, "--nic1", "nat", "--nictype1", cfg.NatNicType),
            *("--cableconnected1", "on"),
        )
        vbm("storagectl", vm, "--name", "SATA", "--add", "sata", "--hostiocache", "on")
        vbm(
            *("storageattach", vm, "--storagectl", "SATA", "--port", str(SEED_PORT)),
            *("--device", "0", "--type", "dvddrive", "--medium", str(seed_iso)),
        )
        vbm(
            *("storageattach", vm, "--storagectl", "SATA", "--port", str(DISK_PORT)),
            *("--device", "0", "--type", "hdd", "--medium", str(disk)),
        )
        self._share(vbm, vm, cfg)
        plan = hostonly.plan(cfg.HostOnlyCIDR)
        with vbm.held():  # find or make the network and reserve, as one step
            attached = hostonly.prepare(vbm, plan, cfg.HostOnlyMAC, self._store(), request.record)
        learned.update(
            HostOnlyInterface=attached.interface,
            HostOnlyNetwork=attached.network,
            IPAddress=attached.ip,
        )
        vbm(
            *("modifyvm", vm, "--nic2", "hostonly", "--nictype2", cfg.HostOnlyNicType),
            *("--nicpromisc2", cfg.HostOnlyPromiscMode),
            *("--hostonlyadapter2", attached.interface, "--cableconnected2", "on"),
            *("--macaddress2", cfg.HostOnlyMAC),
        )
        learned["SSHPort"] = self._forward_ssh(vbm, vm, 0)
        self._startvm(vbm, vm, cfg.UIType)
        return learned

    def _import_source(self, vbm: Any) -> Path:
        from machine_driver_virtualbox import parse

        info = parse.machinereadable(
            vbm("showvminfo", self.config.Boot2DockerImportVM, "--machinereadable")
        )
        for key, value in info.items():
            if (
                key.count("-") == 2
                and "ImageUUID" not in key
                and value.endswith((".vdi", ".vmdk", ".vhd"))
            ):
                return Path(value)
        raise DriverError(f'VM "{self.config.Boot2DockerImportVM}" has no disk to import')

    def _share(self, vbm: Any, vm: str, cfg: VirtualBoxConfig) -> None:
        """docker-machine's shared folder: the user's home (or --virtualbox-share-folder)."""
        if cfg.NoShare:
            return
        if cfg.ShareFolder:
            path, _, share = cfg.ShareFolder.rpartition(":")
        else:
            path, share = _home_share()
        if not path or not Path(path).is_dir():
            return  # docker-machine shared nothing when the folder is missing
        vbm("guestproperty", "set", vm, "/VirtualBox/GuestAdd/SharedFolders/MountPrefix", "/")
        vbm("guestproperty", "set", vm, "/VirtualBox/GuestAdd/SharedFolders/MountDir", "/")
        vbm("sharedfolder", "add", vm, "--name", share, "--hostpath", path, "--automount")
        vbm("setextradata", vm, f"VBoxInternal2/SharedFoldersEnableSymlinksCreate/{share}", "1")

    def _forward_ssh(self, vbm: Any, vm: str, previous: int) -> int:
        """The NAT rule "ssh": 127.0.0.1:PORT to the guest's 22 (the previous port if free)."""
        from machine_driver_virtualbox import parse

        port = _free_port(previous)
        info = parse.machinereadable(vbm("showvminfo", vm, "--machinereadable"))
        if any(k.startswith("Forwarding(") and v.startswith("ssh,") for k, v in info.items()):
            vbm("modifyvm", vm, "--natpf1", "delete", "ssh")
        vbm("modifyvm", vm, "--natpf1", f"ssh,tcp,127.0.0.1,{port},,22")
        return port

    def _startvm(self, vbm: Any, vm: str, ui: str) -> None:
        vbm("startvm", vm, "--type", ui)

    def _store(self) -> Path:
        return self.store_root or Path(self.config.StorePath)

    def adopt(self, resources: Sequence[tuple[str, str]]) -> Learned:
        """A failed or killed create's journal: the VM, its disk, the reservation."""
        cfg = self.config
        learned: dict[str, Any] = {}
        for kind, ident in resources:
            if kind == "vm" and not cfg.UUID:
                learned["UUID"] = ident
            elif kind == "hostonlyif" and not cfg.HostOnlyInterface:
                learned.setdefault("HostOnlyInterface", ident)
            elif kind == "reservation" and not cfg.HostOnlyMAC:
                network, mac, ip = ident.split(" ")
                learned.update(
                    HostOnlyNetwork=network,
                    HostOnlyInterface=network.removeprefix("HostInterfaceNetworking-"),
                    HostOnlyMAC=mac,
                    IPAddress=ip,
                )
        return learned

    # --- the machine ------------------------------------------------------------------------

    @property
    def vm(self) -> str:
        """How VBoxManage names the VM: its UUID, or (docker-machine's records) its name."""
        return self.config.UUID or self.config.MachineName

    def endpoint(self) -> Endpoint:
        cfg = self.config
        return Endpoint(
            cfg.IPAddress, "127.0.0.1", cfg.SSHPort, cfg.SSHUser, cfg.SSHKeyPath, cfg.EnginePort
        )

    def url(self) -> str:
        return self.endpoint().docker_url if self.config.IPAddress else ""

    def state(self) -> State:
        from machine_driver_virtualbox import parse
        from machine_driver_virtualbox.vbm import VBoxError, VBoxManage

        try:
            info = parse.machinereadable(VBoxManage()("showvminfo", self.vm, "--machinereadable"))
        except VBoxError as exc:
            if _not_found(exc):
                return State.NOT_FOUND
            raise
        return STATES.get(info.get("VMState", ""), State.NONE)

    @classmethod
    def states(cls, drivers: Sequence[BaseDriver]) -> list[State]:
        """Two VBoxManage calls for any number of machines: `list vms` and `list runningvms`
        (a paused VM is listed as running; `status` tells it apart)."""
        from machine_driver_virtualbox import parse
        from machine_driver_virtualbox.vbm import VBoxManage

        vbm = VBoxManage()
        registered = parse.vms(vbm("list", "vms"))
        running = parse.vms(vbm("list", "runningvms"))
        running_names, registered_names = set(running.values()), set(registered.values())
        out = []
        for d in drivers:
            assert isinstance(d, Driver)
            ref = d.vm.lower()
            if ref in running or d.vm in running_names:
                out.append(State.RUNNING)
            elif ref in registered or d.vm in registered_names:
                out.append(State.STOPPED)
            else:
                out.append(State.NOT_FOUND)
        return out

    def start(self) -> Learned:
        from machine_driver_virtualbox import hostonly
        from machine_driver_virtualbox.vbm import VBoxManage

        vbm = VBoxManage()
        cfg = self.config
        info = self._info(vbm)
        state = info.get("VMState", "")
        if state == "running":
            return {}
        if state == "paused":
            vbm("controlvm", self.vm, "resume")
            return {}
        learned: dict[str, Any] = {}
        if cfg.HostOnlyMAC and cfg.IPAddress:
            # the network may be gone (a host reboot on some systems, or a user removed it):
            # make it again, with the same reservation
            plan = hostonly.plan(cfg.HostOnlyCIDR)
            with vbm.held():
                attached = hostonly.prepare_existing(
                    vbm, plan, cfg.HostOnlyMAC, cfg.IPAddress, self._store()
                )
            if attached.interface != cfg.HostOnlyInterface:
                vbm("modifyvm", self.vm, "--hostonlyadapter2", attached.interface)
                learned["HostOnlyInterface"] = attached.interface
                learned["HostOnlyNetwork"] = attached.network
        port = self._forward_ssh(vbm, self.vm, cfg.SSHPort)
        if port != cfg.SSHPort:
            learned["SSHPort"] = port
        self._startvm(vbm, self.vm, cfg.UIType)
        return learned

    def _info(self, vbm: Any) -> dict[str, str]:
        from machine_driver_virtualbox import parse
        from machine_driver_virtualbox.vbm import VBoxError

        try:
            return parse.machinereadable(vbm("showvminfo", self.vm, "--machinereadable"))
        except VBoxError as exc:
            if _not_found(exc):
                raise DriverError(
                    f'the VM of machine "{self.config.MachineName}" is no longer in VirtualBox'
                ) from None
            raise

    def stop(self) -> None:
        from machine_driver_virtualbox.vbm import VBoxManage

        vbm = VBoxManage()
        state = self._info(vbm).get("VMState")
        if state not in ("running", "paused"):
            return
        if state == "paused":  # a paused guest cannot hear the ACPI button
            vbm("controlvm", self.vm, "resume")
        vbm("controlvm", self.vm, "acpipowerbutton")
        for _ in attempts(time.monotonic() + STOP_WAIT, first=1.0, factor=1.0):
            if self._info(vbm).get("VMState") not in ("running", "paused", "stopping"):
                return
        vbm("controlvm", self.vm, "poweroff")  # it did not listen: force it off

    def kill(self) -> None:
        from machine_driver_virtualbox.vbm import VBoxManage

        vbm = VBoxManage()
        if self._info(vbm).get("VMState") in ("running", "paused", "stuck", "stopping"):
            vbm("controlvm", self.vm, "poweroff")

    def restart(self) -> Learned:
        self.stop()
        return self.start()

    def remove(self) -> None:
        """The VM (powered off, unregistered, its folder and disk deleted), its reservation,
        and the host-only network if this store made it and nothing uses it any more."""
        from machine_driver_virtualbox import hostonly
        from machine_driver_virtualbox.vbm import VBoxError, VBoxManage

        cfg = self.config
        vbm = VBoxManage()
        interface = cfg.HostOnlyInterface
        if cfg.UUID or not cfg.HostOnlyMAC:  # a VM to look for (by UUID, or by its name)
            try:
                info = self._info(vbm)
            except DriverError:
                info = {}  # already gone
            state = info.get("VMState", "")
            # docker-machine's records do not name the network: the VM does
            interface = interface or info.get("hostonlyadapter2", "")
            if state in ("running", "paused", "stuck", "stopping"):
                vbm("controlvm", self.vm, "poweroff")
            if state:
                try:
                    vbm("unregistervm", self.vm, "--delete")
                except VBoxError as exc:
                    if not _not_found(exc):
                        raise
        disk = self._store() / "machines" / cfg.MachineName / "disk.vdi"
        if disk.exists():  # cloned, never attached (a create that failed in between)
            try:
                vbm("closemedium", "disk", str(disk), "--delete")
            except VBoxError:
                disk.unlink(missing_ok=True)
        if not interface:
            return
        network = cfg.HostOnlyNetwork or f"HostInterfaceNetworking-{interface}"
        with vbm.held():
            if cfg.HostOnlyMAC:
                hostonly.unreserve(vbm, network, cfg.HostOnlyMAC)
            hostonly.release_if_unused(vbm, interface, network, self._store())


def _check_flags(cfg: VirtualBoxConfig) -> None:
    for option, value, low, high in (
        ("--virtualbox-memory", cfg.Memory, 256, 1 << 22),
        ("--virtualbox-disk-size", cfg.DiskSize, 2000, 1 << 30),
    ):
        if not low <= value <= high:
            raise PreCreateCheckFailed(f"{option} must be from {low} to {high}, not {value}")
    if cfg.CPU == 0 or cfg.CPU < -1 or cfg.CPU > 64:
        raise PreCreateCheckFailed(
            f"--virtualbox-cpu-count must be from 1 to 64, or -1 for all CPUs, not {cfg.CPU}"
        )
    for nic_option, nic_type in (
        ("--virtualbox-nat-nictype", cfg.NatNicType),
        ("--virtualbox-hostonly-nictype", cfg.HostOnlyNicType),
    ):
        if nic_type not in NIC_TYPES:
            raise PreCreateCheckFailed(f"{nic_option} must be one of {', '.join(NIC_TYPES)}")
    if cfg.HostOnlyPromiscMode not in ("deny", "allow-vms", "allow-all"):
        raise PreCreateCheckFailed(
            "--virtualbox-hostonly-nicpromisc must be deny, allow-vms or allow-all"
        )
    if cfg.UIType not in ("headless", "gui", "sdl", "separate"):
        raise PreCreateCheckFailed("--virtualbox-ui-type must be headless, gui, sdl or separate")
    if cfg.HostOnlyNoDHCP:
        raise PreCreateCheckFailed(
            "--virtualbox-hostonly-no-dhcp: the VM's host-only address is its DHCP "
            "reservation (that keeps it, and the certificate, across restarts)",
            hint="Create without it; an existing DHCP server on the network is reused.",
        )
    if cfg.ShareFolder:
        path, sep, share = cfg.ShareFolder.rpartition(":")
        if not sep or not path or not share:
            raise PreCreateCheckFailed(
                "--virtualbox-share-folder takes dir:name, such as /srv/code:code"
            )
        if not Path(path).is_dir():
            raise PreCreateCheckFailed(f"--virtualbox-share-folder: {path} is not a folder")
    from machine_driver_virtualbox import hostonly

    hostonly.plan(cfg.HostOnlyCIDR)


def _hardware_virtualization() -> bool:
    """VT-x or AMD-V, as the CPU reports it (Linux: /proc/cpuinfo; elsewhere trusted)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return True
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            words = set(line.split(":", 1)[1].split())
            return bool(words & {"vmx", "svm"})
    return True


def _home_share() -> tuple[str, str]:
    """docker-machine's default share: /Users on macOS, C:\\Users on Windows, /home else."""
    import sys

    if sys.platform == "darwin":
        return "/Users", "Users"
    if sys.platform == "win32":
        return "C:\\Users", "c/Users"
    return "/home", "hosthome"


def _onoff(value: bool) -> str:
    return "on" if value else "off"


def _not_found(exc: Exception) -> bool:
    text = str(getattr(exc, "stderr", "")) or str(exc)
    return "Could not find a registered machine" in text or "VBOX_E_OBJECT_NOT_FOUND" in text


def _free_port(previous: int) -> int:
    import socket

    for port in (previous, 0) if previous else (0,):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise DriverError("no free port on 127.0.0.1 for SSH")
