"""The `vmwarevsphere` driver: VMs on VMware vCenter or a standalone ESXi host, through pyvmomi.

Flags, variables and config.json field names are docker-machine's (`--vmwarevsphere-*`,
`VSPHERE_*`; `IP`, `Port`, `Datacenter`, `Networks`, `CfgParams` ...), plus what rancher's
fork added (`--vmwarevsphere-creation-type`, `-clone-from`, `-graceful-shutdown-timeout`, the
VM's UUID as `MachineId`). What differs, on purpose:

- the boot image is machine-os (or any image) as an OVA, imported through an NFC lease, or a
  template to clone; the seed (login key, the SSH host key pinned before first contact, the
  hostname) goes through guestinfo, which machine-os and cloud-init both read: no ISO upload,
  no guest-operations password;
- the server certificate is verified (system CAs, `--vmwarevsphere-ca-cert`, or a pinned
  `--vmwarevsphere-thumbprint`); `--vmwarevsphere-insecure` is explicit;
- the password is never written to the store (flag, `$VSPHERE_PASSWORD` or a 0600 file);
- one session per command; `ls` asks for all VMs of a vCenter in one property collection;
- every VM is journaled the moment it exists and tagged with the store (ExtraConfig
  `machine.store`, `machine.name`) so `machine orphans` finds what no machine owns.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from machine.driver import (
    DEFAULT_ENGINE_PORT,
    BaseConfig,
    CreateRequest,
    DriverError,
    Endpoint,
    Features,
    Learned,
    Orphan,
    PreCreateCheckFailed,
    State,
    flag,
    frozen,
)
from machine.driver import Driver as BaseDriver

IP_WAIT = 600.0  # seconds for the guest's tools to report an address, when no deadline is given
TAG_STORE = "machine.store"  # ExtraConfig keys naming who made a VM (orphans, the UUID check)
TAG_NAME = "machine.name"

STATES = {"poweredOn": State.RUNNING, "poweredOff": State.STOPPED, "suspended": State.PAUSED}

P = ParamSpec("P")
R = TypeVar("R")


def _vsphere(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """vSphere's faults and lost connections during `what` become a DriverError saying so."""

    def wrap(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            from machine_driver_vmwarevsphere import sdk

            with sdk.translated(what):
                return method(*args, **kwargs)

        return call

    return wrap


@frozen
class VSphereConfig(BaseConfig):
    SSHUser: str = "docker"
    CPU: int = flag(
        "vmwarevsphere-cpu-count",
        default=2,
        env="VSPHERE_CPU_COUNT",
        help="vSphere CPU number for docker VM",
    )
    Memory: int = flag(
        "vmwarevsphere-memory-size",
        default=2048,
        env="VSPHERE_MEMORY_SIZE",
        help="vSphere size of memory for docker VM (in MB)",
    )
    DiskSize: int = flag(
        "vmwarevsphere-disk-size",
        default=20480,
        env="VSPHERE_DISK_SIZE",
        help="vSphere size of disk for docker VM (in MB)",
    )
    Boot2DockerURL: str = flag(
        "vmwarevsphere-boot2docker-url",
        default="",
        env="VSPHERE_BOOT2DOCKER_URL",
        help="The image to boot: machine-os, a catalog name, an OVA/VMDK URL or file",
    )
    IP: str = flag(
        "vmwarevsphere-vcenter",
        default="",
        env="VSPHERE_VCENTER",
        help="vSphere IP/hostname for vCenter (or an ESXi host)",
    )
    Port: int = flag(
        "vmwarevsphere-vcenter-port",
        default=443,
        env="VSPHERE_VCENTER_PORT",
        help="vSphere Port for vCenter",
    )
    Username: str = flag(
        "vmwarevsphere-username", default="", env="VSPHERE_USERNAME", help="vSphere Username"
    )
    Password: str = flag(
        "vmwarevsphere-password",
        default="",
        env="VSPHERE_PASSWORD",
        help="vSphere Password (never stored: give it on each command, or use a credentials file)",
        secret=True,
    )
    CredentialsFile: str = flag(
        "vmwarevsphere-credentials-file",
        default="",
        env="VSPHERE_CREDENTIALS_FILE",
        help="A file (mode 0600) holding the vSphere password",
    )
    Network: str = ""  # docker-machine 0.x kept one network here
    Networks: tuple[str, ...] = flag(
        "vmwarevsphere-network",
        default=(),
        env="VSPHERE_NETWORK",
        help="vSphere network where the docker VM will be attached (repeatable; default "
        '"VM Network")',
    )
    Datastore: str = flag(
        "vmwarevsphere-datastore",
        default="",
        env="VSPHERE_DATASTORE",
        help="vSphere datastore for docker VM",
    )
    Datacenter: str = flag(
        "vmwarevsphere-datacenter",
        default="",
        env="VSPHERE_DATACENTER",
        help="vSphere datacenter for docker VM",
    )
    Folder: str = flag(
        "vmwarevsphere-folder",
        default="",
        env="VSPHERE_FOLDER",
        help="vSphere folder for the docker VM. This folder must already exist.",
    )
    Pool: str = flag(
        "vmwarevsphere-pool", default="", env="VSPHERE_POOL", help="vSphere resource pool"
    )
    HostSystem: str = flag(
        "vmwarevsphere-hostsystem",
        default="",
        env="VSPHERE_HOSTSYSTEM",
        help="vSphere compute resource where the docker VM will be instantiated",
    )
    CfgParams: tuple[str, ...] | None = flag(
        "vmwarevsphere-cfgparam",
        default=(),
        env="VSPHERE_CFGPARAM",
        help="vSphere vm configuration parameters key=value (repeatable)",
    )
    CloudInit: str = flag(
        "vmwarevsphere-cloudinit",
        default="",
        env="VSPHERE_CLOUDINIT",
        help="vSphere cloud-init file (#cloud-config, merged with the seed) or URL",
    )
    CreationType: str = flag(
        "vmwarevsphere-creation-type",
        default="vm",
        env="VSPHERE_CREATION_TYPE",
        help="vm: import the boot image | template: clone --vmwarevsphere-clone-from",
    )
    CloneFrom: str = flag(
        "vmwarevsphere-clone-from",
        default="",
        env="VSPHERE_CLONE_FROM",
        help="The VM or template to clone (with --vmwarevsphere-creation-type template)",
    )
    GracefulShutdownTimeout: int = flag(
        "vmwarevsphere-graceful-shutdown-timeout",
        default=60,
        env="VSPHERE_GRACEFUL_SHUTDOWN_TIMEOUT",
        help="Seconds to wait for a guest shutdown before powering off",
    )
    CACert: str = flag(
        "vmwarevsphere-ca-cert",
        default="",
        env="VSPHERE_CA_CERT",
        help="CA certificate (PEM) to verify vCenter's certificate with",
    )
    Thumbprint: str = flag(
        "vmwarevsphere-thumbprint",
        default="",
        env="VSPHERE_THUMBPRINT",
        help="SHA-256 fingerprint of vCenter's certificate, pinned",
    )
    Insecure: bool = flag(
        "vmwarevsphere-insecure",
        default=False,
        env="VSPHERE_INSECURE",
        help="Do not verify vCenter's certificate (anyone on the path can impersonate it)",
    )
    # learned: the VM's BIOS UUID (rancher's name), the store that made it, the engine port
    MachineId: str = ""
    StoreId: str = ""
    EnginePort: int = DEFAULT_ENGINE_PORT


class Driver(BaseDriver[VSphereConfig]):
    name = "vmwarevsphere"
    Config = VSphereConfig
    features = Features(
        provisions_engine=True,
        fresh_host=True,
        makes_ssh_key=True,
        seeds_host_key=True,
        image_formats=("ova",),  # imported through an NFC lease
    )
    help = "VMs on VMware vCenter or ESXi"
    sdk = ("pyVmomi",)
    extra = "vsphere"

    # --- the session -----------------------------------------------------------------------

    def _target(self) -> Any:
        """Where to log in, and how to verify the server. A record without a way to verify
        (docker-machine's never verified) takes it from $VSPHERE_THUMBPRINT, $VSPHERE_CA_CERT
        or $VSPHERE_INSECURE, the variables of the create flags."""
        from machine_driver_vmwarevsphere.connection import Target

        cfg = self.config
        ca, pin, insecure = cfg.CACert, cfg.Thumbprint, cfg.Insecure
        if not (ca or pin or insecure):
            ca = os.environ.get("VSPHERE_CA_CERT", "")
            pin = os.environ.get("VSPHERE_THUMBPRINT", "")
            insecure = os.environ.get("VSPHERE_INSECURE", "") in ("1", "true", "yes")
        return Target(cfg.IP, cfg.Port, cfg.Username, ca, pin, insecure)

    def _si(self) -> Any:
        from machine_driver_vmwarevsphere import connection

        cfg = self.config
        stored = str(self.unknown.get("Password") or "")  # a docker-machine record's
        secret = connection.password(cfg.Password, stored, cfg.CredentialsFile)
        return connection.connect(self._target(), secret)

    def _netloc(self) -> str:
        host = self.config.IP
        return f"[{host}]:{self.config.Port}" if ":" in host else f"{host}:{self.config.Port}"

    def _datacenter(self, si: Any) -> Any:
        from machine_driver_vmwarevsphere import inventory

        return inventory.datacenter(si, self.config.Datacenter)

    def _find(self, si: Any) -> Any | None:
        """The machine's VM (None: it is gone). Found by the UUID the record holds, so a VM
        that took the machine's name since is never mistaken for it; docker-machine's
        records have no UUID, and their VM is found by its name in the machine's folder."""
        from machine_driver_vmwarevsphere import inventory

        cfg = self.config
        dc = self._datacenter(si)
        if cfg.MachineId:
            return inventory.find_vm(si, dc, cfg.MachineId)
        folder = inventory.vm_folder_of(si, dc, cfg.Folder) or dc.vmFolder
        return si.content.searchIndex.FindChild(folder, cfg.MachineName)

    def _vm(self, si: Any) -> Any:
        vm = self._find(si)
        if vm is None:
            raise DriverError(f'the VM of machine "{self.config.MachineName}" no longer exists')
        return vm

    def _placement(self, si: Any) -> Any:
        from machine_driver_vmwarevsphere import inventory

        cfg = self.config
        return inventory.place(
            si,
            cfg.Datacenter,
            cfg.Folder,
            cfg.Datastore,
            cfg.Pool,
            cfg.HostSystem,
            self._networks(),
        )

    # --- create ----------------------------------------------------------------------------

    @_vsphere("checking vSphere")
    def pre_create_check(self) -> Learned:
        from machine_driver_vmwarevsphere import connection, inventory

        cfg = self.config
        connection.check_target(cfg.IP, cfg.Port, cfg.CACert, cfg.Thumbprint)
        if not cfg.Username:
            raise PreCreateCheckFailed(
                "vSphere driver requires the --vmwarevsphere-username option"
            )
        for option, value, low, high in (
            ("--vmwarevsphere-memory-size", cfg.Memory, 256, 1 << 24),
            ("--vmwarevsphere-cpu-count", cfg.CPU, 1, 768),
            ("--vmwarevsphere-disk-size", cfg.DiskSize, 2000, 1 << 30),
            ("--vmwarevsphere-graceful-shutdown-timeout", cfg.GracefulShutdownTimeout, 0, 86400),
        ):
            if not low <= value <= high:
                raise PreCreateCheckFailed(f"{option} must be from {low} to {high}, not {value}")
        if cfg.CreationType not in ("vm", "template"):
            raise PreCreateCheckFailed("--vmwarevsphere-creation-type must be vm or template")
        if cfg.CreationType == "template" and not cfg.CloneFrom:
            raise PreCreateCheckFailed(
                "--vmwarevsphere-creation-type template needs --vmwarevsphere-clone-from"
            )
        for param in cfg.CfgParams or ():
            key, equals, _ = param.partition("=")
            if not equals or not key or key.startswith(("guestinfo.", "machine.")):
                raise PreCreateCheckFailed(
                    f"--vmwarevsphere-cfgparam {param!r}: give key=value; guestinfo.* and "
                    "machine.* keys are the driver's"
                )
        if cfg.CloudInit and "://" not in cfg.CloudInit:
            from pathlib import Path

            if not Path(cfg.CloudInit).expanduser().is_file():
                raise PreCreateCheckFailed(
                    f"--vmwarevsphere-cloudinit: no such file {cfg.CloudInit}"
                )
        try:
            si = self._si()
        except DriverError as exc:
            raise PreCreateCheckFailed(exc.message, exc.hint) from None
        placement = self._placement(si)
        if cfg.CreationType == "template":
            inventory.find_template(si, placement.datacenter, cfg.CloneFrom)
        folder = placement.folder
        if si.content.searchIndex.FindChild(folder, cfg.MachineName) is not None:
            raise PreCreateCheckFailed(
                f'a VM named "{cfg.MachineName}" already exists in that folder'
            )
        # the defaults found are kept: later commands find the same datacenter and datastore
        return {
            "Datacenter": placement.datacenter.name,
            "Datastore": placement.datastore.name,
            "Networks": tuple(n.name for n in placement.networks),
        }

    def _networks(self) -> list[str]:
        cfg = self.config
        return list(cfg.Networks) or ([cfg.Network] if cfg.Network else ["VM Network"])

    def image_ref(self) -> str:
        return self.config.Boot2DockerURL or "machine-os"

    @_vsphere("creating the VM")
    def create(self, request: CreateRequest) -> Learned:
        from machine import seed
        from machine_driver_vmwarevsphere import importer, inventory
        from machine_driver_vmwarevsphere import vm as vms

        cfg = self.config
        deadline = request.deadline or time.monotonic() + IP_WAIT
        si = self._si()
        placement = self._placement(si)
        learned: dict[str, Any] = {
            "SSHKeyPath": str(request.ssh_key_path),
            "EnginePort": request.engine_port,
            "StoreId": request.store_id,
        }
        image = request.image
        if cfg.CreationType == "vm":
            if image is None:
                raise DriverError("the vmwarevsphere driver was given no boot image")
            if cfg.SSHUser == "docker" and image.ssh_user != "docker":
                learned["SSHUser"] = image.ssh_user

        def made(vm: Any) -> None:
            learned["MachineId"] = vm.config.uuid
            request.record("vm", vm.config.uuid)

        extra_user_data = ""
        extra: dict[str, str] = {}
        if cfg.CloudInit and "://" in cfg.CloudInit:
            extra["guestinfo.cloud-init.config.url"] = cfg.CloudInit  # as docker-machine did
        elif cfg.CloudInit:
            from pathlib import Path

            extra_user_data = Path(cfg.CloudInit).expanduser().read_text()
        facts = seed.Seed(
            hostname=cfg.MachineName,
            user=learned.get("SSHUser", cfg.SSHUser),
            authorized_key=request.ssh_public_key,
            host_key_private=request.host_key_private,
            host_key_public=request.host_key_public,
            instance_id=f"{cfg.MachineName}-{int(time.time())}",
            extra_user_data=extra_user_data,
        )
        extra.update(seed.guestinfo(facts))
        extra.update(dict(p.split("=", 1) for p in cfg.CfgParams or ()))
        extra[TAG_STORE] = request.store_id
        extra[TAG_NAME] = cfg.MachineName

        if cfg.CreationType == "template":
            source = inventory.find_template(si, placement.datacenter, cfg.CloneFrom)
            vm = vms.clone(si, source, cfg.MachineName, placement, made)
        else:
            assert image is not None
            vm = importer.import_ova(
                si,
                image.disk,
                cfg.MachineName,
                placement,
                ["VM Network"],
                self._target(),
                self._netloc(),
                made,
            )
        vms.configure(
            vm,
            cpus=cfg.CPU,
            memory_mb=cfg.Memory,
            disk_mb=cfg.DiskSize,
            networks=placement.networks,
            extra_config=extra,
        )
        vms.power_on(vm)
        learned["IPAddress"] = vms.wait_for_ip(vm, deadline)
        return learned

    def adopt(self, resources: Sequence[tuple[str, str]]) -> Learned:
        made = [ident for kind, ident in resources if kind == "vm"]
        return {"MachineId": made[-1]} if made and not self.config.MachineId else {}

    # --- the machine ------------------------------------------------------------------------

    def endpoint(self) -> Endpoint:
        cfg = self.config
        return Endpoint(
            cfg.IPAddress,
            cfg.IPAddress,
            cfg.SSHPort or 22,
            cfg.SSHUser,
            cfg.SSHKeyPath,
            cfg.EnginePort,
        )

    def url(self) -> str:
        return self.endpoint().docker_url if self.config.IPAddress else ""

    def state(self) -> State:
        return self.states([self])[0]

    @classmethod
    @_vsphere("asking vSphere for the VMs' states")
    def states(cls, drivers: Sequence[BaseDriver]) -> list[State]:
        """One property collection per vCenter for all its machines (ls of a fleet)."""
        from machine_driver_vmwarevsphere import vm as vms

        out: dict[int, State] = {}
        by_target: dict[Any, list[tuple[int, Driver]]] = {}
        for i, d in enumerate(drivers):
            assert isinstance(d, Driver)
            by_target.setdefault(d._target(), []).append((i, d))
        for group in by_target.values():
            si = group[0][1]._si()
            found = vms.power_states(si)  # uuid -> powerState, name -> powerState
            for i, d in group:
                key = d.config.MachineId or f"name:{d.config.MachineName}"
                power = found.get(key)
                out[i] = STATES.get(power, State.NONE) if power else State.NOT_FOUND
        return [out[i] for i in range(len(drivers))]

    @_vsphere("starting the VM")
    def start(self) -> Learned:
        from machine_driver_vmwarevsphere import vm as vms

        vm = self._vm(self._si())
        vms.power_on(vm)
        return {"IPAddress": vms.wait_for_ip(vm, time.monotonic() + IP_WAIT)}

    @_vsphere("stopping the VM")
    def stop(self) -> None:
        from machine_driver_vmwarevsphere import vm as vms

        vms.shut_down(self._vm(self._si()), self.config.GracefulShutdownTimeout)

    @_vsphere("powering off the VM")
    def kill(self) -> None:
        from machine_driver_vmwarevsphere import vm as vms

        vms.power_off(self._vm(self._si()))

    def restart(self) -> Learned:
        self.stop()
        return self.start()

    @_vsphere("removing the VM")
    def remove(self) -> None:
        """Power off and destroy the VM (its disks and folder go with it). A VM of that name
        with another UUID is not ours: it is left alone."""
        from machine_driver_vmwarevsphere import vm as vms

        vm = self._find(self._si())
        if vm is not None:  # gone already is success
            vms.destroy(vm)

    # --- orphans ---------------------------------------------------------------------------

    @classmethod
    @_vsphere("looking for VMs no machine has")
    def orphans(cls, owned: Sequence[BaseDriver], store_id: str) -> list[Orphan]:
        """VMs tagged with this store's id that no machine of the store has (a create killed
        before it saved, a record deleted by hand), on every vCenter the store's machines use."""
        from machine_driver_vmwarevsphere import vm as vms

        mine = [d for d in owned if isinstance(d, Driver)]
        by_target: dict[Any, list[Driver]] = {}
        for d in mine:
            by_target.setdefault(d._target(), []).append(d)
        out: list[Orphan] = []
        for target, group in by_target.items():
            ours = {d.config.MachineId for d in group}
            for uuid, name, power in vms.tagged(group[0]._si(), TAG_STORE, store_id, TAG_NAME):
                if uuid not in ours:
                    # how to reach it again: a machine's record on that vCenter (in memory only)
                    ref = json.dumps(group[0].to_json())
                    where = f"{target.host}:{target.port}"
                    out.append(Orphan("vm", uuid, where, name=name, detail=power, ref=ref))
        return out

    @classmethod
    def remove_orphan(cls, orphan: Orphan) -> None:
        data = {**json.loads(orphan.ref), "MachineId": orphan.id, "MachineName": orphan.name}
        cls.from_json(data).remove()
