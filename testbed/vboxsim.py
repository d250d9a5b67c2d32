"""A VBoxManage simulator: VirtualBox's command line for the tests, with real guests.

VirtualBox is in no registry these machines reach, so the virtualbox driver is tested against
this program, put on PATH as `VBoxManage` (see `install`). It keeps VirtualBox's registry (VMs,
media, host-only interfaces, DHCP servers) as JSON in $VBOX_USER_HOME, which it requires, so it
never touches a real user's VirtualBox. It answers exactly the subcommands and options the
driver uses, in VirtualBox 7's output formats (`--version`, `list`, `showvminfo
--machinereadable`, errors as `VBoxManage: error: ...` with exit status 1), and refuses
anything else loudly, so a driver change that needs more shows up as a test failure.

What is real: `startvm` boots the VM with QEMU (software emulation) from its attached disk and
DVD in the VM's boot order, by BIOS or UEFI (`--firmware efi`: OVMF), with its memory and CPUs;
NIC 1 NAT is QEMU user networking with the `--natpf1` forwards on the host; a host-only NIC is
a tap on a bridge named after the host-only interface, holding that interface's address (so
the tests run it in a network namespace of their own), and an enabled DHCP server is a dnsmasq
applying the fixed addresses given with `dhcpserver modify --mac-address --fixed-address`.
`acpipowerbutton`, `pause` and `resume` go to QEMU's monitor; a guest that powers itself off
is seen as "poweroff". Disks are VDI files made and converted with qemu-img.

What is not simulated (and refused): saved states, snapshots, guest additions (guest
properties are stored, never filled by a guest), USB, other network modes than nat/hostonly.
VirtualBox 6.1.28+'s host-only address rule (192.168.56.0/21 unless /etc/vbox/networks.conf
allows more) is applied, with the rules read from $VBOXSIM_NETWORKS_CONF when set.

Faults: VBOXSIM_FAIL=SUBCOMMAND makes that subcommand fail as VirtualBox fails (a tests'
tool, for what a failed create leaves).

Races: every command that changes the registry takes its lock without waiting; a second
command changing it at the same moment fails and is written to `races.log` (VirtualBox's own
registry does not survive such interleaving well), so tests can check a driver serialises.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

VERSION = "7.0.20r163906"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
ALLOWED_DEFAULT = [ipaddress.ip_network("192.168.56.0/21")]
NIC_MODELS = {"82540EM": "e1000", "82543GC": "e1000", "82545EM": "e1000", "Am79C970A": "pcnet",
              "Am79C973": "pcnet", "virtio": "virtio-net-pci"}  # fmt: skip
PROGRESS = "0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%"


class Failure(Exception):
    """A VBoxManage error: printed as VirtualBox prints them, exit status 1."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class Refused(Exception):
    """Something this simulator does not do: it says so instead of pretending."""


def install(bin_dir: Path) -> Path:
    """A `VBoxManage` executable in bin_dir that runs this simulator."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "VBoxManage"
    root = Path(__file__).resolve().parents[1]
    path.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(root)!r})\n"
        "from testbed.vboxsim import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    path.chmod(0o755)
    return path


# --- the registry ----------------------------------------------------------------------------


def home() -> Path:
    value = os.environ.get("VBOX_USER_HOME", "")
    if not value:
        raise Refused("VBOX_USER_HOME is not set: the simulator keeps its registry only there")
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _empty() -> dict[str, Any]:
    return {"vms": {}, "hostonlyifs": {}, "dhcpservers": {}, "media": {}}


def load() -> dict[str, Any]:
    path = home() / "registry.json"
    if not path.exists():
        return _empty()
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def save(registry: dict[str, Any]) -> None:
    path = home() / "registry.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(registry, indent=1, sort_keys=True))
    tmp.replace(path)


@contextlib.contextmanager
def changing(command: str) -> Iterator[dict[str, Any]]:
    """The registry, for a command that changes it: taken without waiting (see the module
    doc); written back when the command succeeds."""
    lock = (home() / "registry.lock").open("a")
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with (home() / "races.log").open("a") as log:
                log.write(f"{time.time():.3f} {os.getpid()} {command}\n")
            raise Failure(
                "VBoxManage: error: The object is locked by another VBoxManage changing the"
                " registry (simulated race: the caller must serialise its calls)"
            ) from None
        registry = load()
        refresh(registry)
        yield registry
        save(registry)
    finally:
        lock.close()


# --- VMs ------------------------------------------------------------------------------------


def find_vm(registry: dict[str, Any], ref: str) -> dict[str, Any]:
    vms: dict[str, dict[str, Any]] = registry["vms"]
    if ref in vms:
        return vms[ref]
    for vm in vms.values():
        if vm["name"] == ref:
            return vm
    raise Failure(
        f"VBoxManage: error: Could not find a registered machine named '{ref}'",
        "VBoxManage: error: Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component "
        "VirtualBoxWrap, interface IVirtualBox, callee nsISupports",
        'VBoxManage: error: Context: "FindMachine(Bstr(VMNameOrUuid).raw(), '
        'machine.asOutParam())" at line 2621 of file VBoxManageInfo.cpp',
    )


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "000000"


def _alive(vm: dict[str, Any]) -> bool:
    pid = int(vm.get("pid") or 0)
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return vm["uuid"].encode() in cmdline  # the PID is still our QEMU, not a reused one


def refresh(registry: dict[str, Any]) -> None:
    """A guest that powered itself off (or a QEMU that died) is off."""
    for vm in registry["vms"].values():
        if vm["state"] in ("running", "paused") and not _alive(vm):
            vm["state"] = "poweroff" if vm.get("acpi_sent") or vm.get("stopping") else "aborted"
            vm["pid"] = 0
            vm["statechange"] = _now()
            vm.pop("acpi_sent", None)


def _locked_error(vm: dict[str, Any]) -> Failure:
    return Failure(
        f"VBoxManage: error: The machine '{vm['name']}' is already locked for a session "
        "(or being unlocked)",
        "VBoxManage: error: Details: code VBOX_E_INVALID_OBJECT_STATE (0x80bb0007), component "
        "MachineWrap, interface IMachine, callee nsISupports",
    )


def _mutable(vm: dict[str, Any]) -> None:
    if vm["state"] not in ("poweroff", "aborted"):
        raise _locked_error(vm)


def _mac() -> str:
    return "080027" + os.urandom(3).hex().upper()


def _new_vm(name: str, basefolder: Path, ostype: str) -> dict[str, Any]:
    ident = str(uuid.uuid4())
    folder = basefolder / name
    return {
        "name": name,
        "uuid": ident,
        "folder": str(folder),
        "cfgfile": str(folder / f"{name}.vbox"),
        "ostype": ostype or "Other",
        "memory": 128,
        "cpus": 1,
        "firmware": "bios",
        "boot": ["floppy", "dvd", "disk", "none"],
        "settings": {},
        "nics": {},
        "storage": {},
        "guestproperties": {},
        "extradata": {},
        "sharedfolders": {},
        "state": "poweroff",
        "statechange": _now(),
        "pid": 0,
    }


# --- command line helpers ---------------------------------------------------------------------


class Args:
    """Options in VBoxManage's styles: `--opt value`, `--opt=value`, flags."""

    def __init__(self, argv: list[str], flags: frozenset[str] | set[str] = frozenset()) -> None:
        self.positional: list[str] = []
        self.options: list[tuple[str, str]] = []
        i = 0
        while i < len(argv):
            arg = argv[i]
            if arg.startswith("--") or (arg.startswith("-") and len(arg) == 2):
                name, eq, value = arg.partition("=")
                if eq or name in flags:
                    self.options.append((name, value))
                else:
                    if i + 1 >= len(argv):
                        raise Failure(f"VBoxManage: error: Missing the argument of {name}")
                    self.options.append((name, argv[i + 1]))
                    i += 1
            else:
                self.positional.append(arg)
            i += 1

    def get(self, *names: str, default: str = "") -> str:
        for name, value in self.options:
            if name in names:
                return value
        return default

    def has(self, *names: str) -> bool:
        return any(name in names for name, _ in self.options)

    def only(self, known: set[str]) -> None:
        for name, _ in self.options:
            if name not in known:
                raise Refused(f"option {name} is not simulated")


def _onoff(value: str) -> str:
    if value not in ("on", "off"):
        raise Failure(f"VBoxManage: error: Invalid on/off value '{value}'")
    return value


# --- list and showvminfo ------------------------------------------------------------------------


def cmd_list(argv: list[str]) -> str:
    args = Args(argv, flags={"--long", "-l", "--sorted", "-s"})
    if len(args.positional) != 1:
        raise Failure("VBoxManage: error: Incorrect number of parameters")
    what = args.positional[0]
    registry = load()
    refresh(registry)
    out: list[str] = []
    if what in ("vms", "runningvms"):
        for vm in registry["vms"].values():
            if what == "runningvms" and vm["state"] not in ("running", "paused"):
                continue
            out.append(f'"{vm["name"]}" {{{vm["uuid"]}}}')
        return "".join(line + "\n" for line in out)
    if what == "hostonlyifs":
        for name, nif in sorted(registry["hostonlyifs"].items()):
            out.append(
                f"Name:            {name}\n"
                f"GUID:            {nif['guid']}\n"
                f"DHCP:            Disabled\n"
                f"IPAddress:       {nif['ip']}\n"
                f"NetworkMask:     {nif['mask']}\n"
                f"IPV6Address:     \n"
                f"IPV6NetworkMaskPrefixLength: 0\n"
                f"HardwareAddress: {nif['mac']}\n"
                f"MediumType:      Ethernet\n"
                f"Wireless:        No\n"
                f"Status:          Up\n"
                f"VBoxNetworkName: HostInterfaceNetworking-{name}\n"
            )
        return "".join(block + "\n" for block in out)
    if what == "dhcpservers":
        for netname, dhcp in sorted(registry["dhcpservers"].items()):
            block = (
                f"NetworkName:    {netname}\n"
                f"Dhcpd IP:       {dhcp['ip']}\n"
                f"LowerIPAddress: {dhcp['lower']}\n"
                f"UpperIPAddress: {dhcp['upper']}\n"
                f"NetworkMask:    {dhcp['mask']}\n"
                f"Enabled:        {'Yes' if dhcp['enabled'] else 'No'}\n"
                "Global Configuration:\n"
                "    minLeaseTime:     default\n"
                "    defaultLeaseTime: default\n"
                "    maxLeaseTime:     default\n"
                "    Forced options:   None\n"
                "    Suppressed opts.: None\n"
                f"        1/legacy: {dhcp['mask']}\n"
                "Groups:               None\n"
            )
            fixed = dhcp.get("fixed", {})
            if not fixed:
                block += "Individual Configs:   None\n"
            else:
                block += "Individual Configs:\n"
                for mac, ip in sorted(fixed.items()):
                    block += (
                        f"    MAC {_colons(mac)}\n"
                        "        minLeaseTime:     default\n"
                        "        defaultLeaseTime: default\n"
                        "        maxLeaseTime:     default\n"
                        f"        Fixed Address:    {ip}\n"
                        "        Forced options:   None\n"
                        "        Suppressed opts.: None\n"
                    )
            out.append(block)
        return "".join(block + "\n" for block in out)
    if what == "hdds":
        for path, medium in sorted(registry["media"].items()):
            out.append(
                f"UUID:           {medium['uuid']}\nParent UUID:    base\nState:          created\n"
                f"Type:           normal (base)\nLocation:       {path}\n"
                f"Storage format: {medium['format']}\nCapacity:       {medium['size_mb']} MBytes\n"
                "Encryption:     disabled\n"
            )
        return "".join(block + "\n" for block in out)
    raise Refused(f"list {what} is not simulated")


def _colons(mac: str) -> str:
    mac = mac.replace(":", "").lower()
    return ":".join(mac[i : i + 2] for i in range(0, 12, 2))


def cmd_showvminfo(argv: list[str]) -> str:
    args = Args(argv, flags={"--machinereadable"})
    args.only({"--machinereadable"})
    if not args.has("--machinereadable"):
        raise Refused("showvminfo without --machinereadable is not simulated")
    if len(args.positional) != 1:
        raise Failure("VBoxManage: error: Incorrect number of parameters")
    registry = load()
    refresh(registry)
    vm = find_vm(registry, args.positional[0])
    lines = [
        f'name="{vm["name"]}"',
        'groups="/"',
        f'ostype="{vm["ostype"]}"',
        f'UUID="{vm["uuid"]}"',
        f'CfgFile="{vm["cfgfile"]}"',
        f'SnapFldr="{vm["folder"]}/Snapshots"',
        f'LogFldr="{vm["folder"]}/Logs"',
        f"memory={vm['memory']}",
        f"cpus={vm['cpus']}",
        f'firmware="{vm["firmware"].upper() if vm["firmware"] == "bios" else "EFI"}"',
    ]
    for i, device in enumerate(vm["boot"], start=1):
        lines.append(f'boot{i}="{device}"')
    lines.append(f'VMState="{vm["state"]}"')
    lines.append(f'VMStateChangeTime="{vm["statechange"]}"')
    for ctl_name, ctl in vm["storage"].items():
        lines.append(f'storagecontrollername{ctl["index"]}="{ctl_name}"')
        lines.append(f'storagecontrollertype{ctl["index"]}="IntelAhci"')
        for slot, medium in sorted(ctl["slots"].items()):
            lines.append(f'"{ctl_name}-{slot}"="{medium["path"]}"')
            if medium.get("uuid"):
                lines.append(f'"{ctl_name}-ImageUUID-{slot}"="{medium["uuid"]}"')
    for n in range(1, 9):
        nic = vm["nics"].get(str(n))
        if nic is None or nic["type"] == "none":
            lines.append(f'nic{n}="none"')
            continue
        if nic["type"] == "hostonly":
            lines.append(f'hostonlyadapter{n}="{nic.get("hostonlyadapter", "")}"')
        lines.append(f'macaddress{n}="{nic["mac"]}"')
        lines.append(f'cableconnected{n}="{nic.get("cable", "on")}"')
        lines.append(f'nic{n}="{nic["type"]}"')
        lines.append(f'nictype{n}="{nic.get("nictype", "82540EM")}"')
        lines.append(f'nicspeed{n}="0"')
        if nic["type"] == "nat":
            for k, rule in enumerate(nic.get("forwards", {}).values()):
                lines.append(f'Forwarding({k})="{rule}"')
    for i, (name, share) in enumerate(vm["sharedfolders"].items(), start=1):
        lines.append(f'SharedFolderNameMachineMapping{i}="{name}"')
        lines.append(f'SharedFolderPathMachineMapping{i}="{share["path"]}"')
    return "".join(line + "\n" for line in lines)


# --- making and changing VMs ------------------------------------------------------------------


def cmd_createvm(argv: list[str]) -> str:
    args = Args(argv, flags={"--register"})
    args.only({"--name", "--basefolder", "--ostype", "--register", "--uuid", "--default"})
    name = args.get("--name")
    if not name:
        raise Failure("VBoxManage: error: Missing --name")
    if not args.has("--register"):
        raise Refused("createvm without --register is not simulated")
    basefolder = Path(args.get("--basefolder") or home() / "VirtualBox VMs")
    with changing("createvm") as registry:
        vm = _new_vm(name, basefolder, args.get("--ostype"))
        if args.get("--uuid"):
            vm["uuid"] = args.get("--uuid")
        if any(other["name"] == name for other in registry["vms"].values()):
            raise Failure(
                f"VBoxManage: error: Machine settings file '{vm['cfgfile']}' already exists"
            )
        folder = Path(vm["folder"])
        if Path(vm["cfgfile"]).exists():
            raise Failure(
                f"VBoxManage: error: Machine settings file '{vm['cfgfile']}' already exists"
            )
        (folder / "Logs").mkdir(parents=True, exist_ok=True)
        registry["vms"][vm["uuid"]] = vm
        _write_settings(vm)
    return (
        f"Virtual machine '{name}' is created and registered.\nUUID: {vm['uuid']}\n"
        f"Settings file: '{vm['cfgfile']}'\n"
    )


def _write_settings(vm: dict[str, Any]) -> None:
    """The VM's settings file (JSON here, XML in VirtualBox): present while registered."""
    Path(vm["cfgfile"]).write_text(json.dumps(vm, indent=1, sort_keys=True))


MODIFY_ONOFF = {
    "--acpi", "--ioapic", "--rtcuseutc", "--natdnshostresolver1", "--natdnsproxy1",
    "--cpuhotplug", "--pae", "--hpet", "--hwvirtex", "--nestedpaging", "--largepages",
    "--vtxvpid", "--accelerate3d", "--bioslogofadein", "--bioslogofadeout", "--longmode",
    "--x2apic", "--audio-enabled",
}  # fmt: skip


def cmd_modifyvm(argv: list[str]) -> str:
    if not argv:
        raise Failure("VBoxManage: error: Missing the VM name")
    ref, rest = argv[0], list(argv[1:])
    for i in range(len(rest) - 2):  # `--natpf1 delete NAME`: the rule's name is a third word
        if re.fullmatch(r"--natpf\d", rest[i]) and rest[i + 1] == "delete":
            rest[i + 1 : i + 3] = [f"delete,{rest[i + 2]}"]
            break
    args = Args(rest)
    if args.positional:
        raise Failure(f"VBoxManage: error: Invalid parameter '{args.positional[0]}'")
    with changing("modifyvm") as registry:
        vm = find_vm(registry, ref)
        _mutable(vm)
        for name, value in args.options:
            _modify(vm, name, value)
        _write_settings(vm)
    return ""


def _modify(vm: dict[str, Any], name: str, value: str) -> None:
    m = re.fullmatch(
        r"--(nic|nictype|cableconnected|nicpromisc|hostonlyadapter|macaddress|natpf)(\d)", name
    )
    if name in MODIFY_ONOFF:
        vm["settings"][name[2:]] = _onoff(value)
    elif name == "--memory":
        vm["memory"] = int(value)
    elif name == "--cpus":
        if not 1 <= int(value) <= 64:
            raise Failure(f"VBoxManage: error: Invalid CPU count {value}")
        vm["cpus"] = int(value)
    elif name == "--ostype":
        vm["ostype"] = value
    elif name == "--firmware":
        if value not in ("bios", "efi", "efi64"):
            raise Failure(f"VBoxManage: error: Invalid --firmware argument '{value}'")
        vm["firmware"] = "bios" if value == "bios" else "efi"
    elif name in ("--bioslogodisplaytime",):
        vm["settings"][name[2:]] = int(value)
    elif name == "--biosbootmenu":
        vm["settings"]["biosbootmenu"] = value
    elif re.fullmatch(r"--boot[1-4]", name):
        if value not in ("none", "floppy", "dvd", "disk", "net"):
            raise Failure(f"VBoxManage: error: Invalid boot device '{value}'")
        vm["boot"][int(name[-1]) - 1] = value
    elif name == "--graphicscontroller":
        vm["settings"]["graphicscontroller"] = value
    elif m:
        kind, n = m.group(1), m.group(2)
        nic = vm["nics"].setdefault(n, {"type": "none", "mac": _mac(), "forwards": {}})
        if kind == "nic":
            if value not in ("none", "null", "nat", "hostonly"):
                raise Refused(f"network mode {value} is not simulated")
            nic["type"] = value
        elif kind == "nictype":
            if value not in NIC_MODELS:
                raise Failure(
                    f"VBoxManage: error: Invalid NIC type '{value}' specified for NIC {n}"
                )
            nic["nictype"] = value
        elif kind == "cableconnected":
            nic["cable"] = _onoff(value)
        elif kind == "nicpromisc":
            if value not in ("deny", "allow-vms", "allow-all"):
                raise Failure(f"VBoxManage: error: Unknown promiscuous mode policy '{value}'")
            nic["promisc"] = value
        elif kind == "hostonlyadapter":
            nic["hostonlyadapter"] = value
        elif kind == "macaddress":
            nic["mac"] = _mac() if value == "auto" else value.replace(":", "").upper()
        elif kind == "natpf":
            _natpf(nic, value)
    else:
        raise Refused(f"modifyvm {name} is not simulated")


def _natpf(nic: dict[str, Any], value: str) -> None:
    forwards: dict[str, str] = nic.setdefault("forwards", {})
    if value.startswith("delete"):
        rule = value.split(",", 1)[1] if "," in value else ""
        if rule not in forwards:
            raise Failure(f"VBoxManage: error: Code NS_ERROR_INVALID_ARG - rule '{rule}' not found")
        del forwards[rule]
        return
    parts = value.split(",")
    if len(parts) != 6 or parts[1] not in ("tcp", "udp"):
        raise Failure(f"VBoxManage: error: Invalid NAT rule '{value}'")
    if parts[0] in forwards:
        raise Failure(f"VBoxManage: error: A NAT rule of this name already exists ({parts[0]})")
    for other in forwards.values():
        if other.split(",")[1:4] == parts[1:4]:
            raise Failure(
                "VBoxManage: error: A NAT rule for this host port and this host IP already exists"
            )
    forwards[parts[0]] = value


def cmd_storagectl(argv: list[str]) -> str:
    ref, args = argv[0], Args(argv[1:])
    args.only({"--name", "--add", "--controller", "--hostiocache", "--portcount", "--bootable"})
    name, kind = args.get("--name"), args.get("--add")
    if kind != "sata":
        raise Refused(f"storage controllers other than sata ({kind}) are not simulated")
    with changing("storagectl") as registry:
        vm = find_vm(registry, ref)
        _mutable(vm)
        if name in vm["storage"]:
            raise Failure(f"VBoxManage: error: Storage controller named '{name}' already exists")
        vm["storage"][name] = {
            "index": len(vm["storage"]),
            "type": kind,
            "hostiocache": _onoff(args.get("--hostiocache", default="off")),
            "slots": {},
        }
        _write_settings(vm)
    return ""


def cmd_storageattach(argv: list[str]) -> str:
    ref, args = argv[0], Args(argv[1:])
    args.only({"--storagectl", "--port", "--device", "--type", "--medium"})
    kind, medium = args.get("--type"), args.get("--medium")
    with changing("storageattach") as registry:
        vm = find_vm(registry, ref)
        _mutable(vm)
        ctl = vm["storage"].get(args.get("--storagectl"))
        if ctl is None:
            raise Failure(
                f"VBoxManage: error: Could not find a controller named '{args.get('--storagectl')}'"
            )
        slot = f"{int(args.get('--port', default='0'))}-{int(args.get('--device', default='0'))}"
        if medium == "none":
            ctl["slots"].pop(slot, None)
        else:
            if kind not in ("hdd", "dvddrive"):
                raise Refused(f"--type {kind} is not simulated")
            path = str(Path(medium).absolute())
            if not Path(path).is_file():
                raise Failure(
                    f"VBoxManage: error: Could not find file for the medium '{path}' "
                    "(VERR_FILE_NOT_FOUND)"
                )
            entry: dict[str, Any] = {"path": path, "type": kind}
            if kind == "hdd":
                known = registry["media"].get(path)
                if known is None:  # VirtualBox registers a disk it is given by path
                    known = registry["media"][path] = _medium_info(Path(path))
                for other in registry["vms"].values():
                    for c in other["storage"].values():
                        for s in c["slots"].values():
                            if s["path"] == path and other is not vm:
                                raise Failure(
                                    f"VBoxManage: error: Medium '{path}' is already attached "
                                    f"to the virtual machine '{other['name']}'"
                                )
                entry["uuid"] = known["uuid"]
            ctl["slots"][slot] = entry
        _write_settings(vm)
    return ""


def _medium_info(path: Path) -> dict[str, Any]:
    info = json.loads(_run(["qemu-img", "info", "--output=json", str(path)]).stdout or "{}")
    fmt = str(info.get("format", "raw")).upper()
    return {"uuid": str(uuid.uuid4()), "format": fmt, "size_mb": int(info["virtual-size"]) >> 20}


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise Failure(f"VBoxManage: error: {argv[0]}: {result.stderr.strip()}")
    return result


def cmd_clonemedium(argv: list[str]) -> str:
    args = Args(argv)
    args.only({"--format", "--variant"})
    if args.positional[:1] == ["disk"]:
        args.positional = args.positional[1:]
    if len(args.positional) != 2:
        raise Failure("VBoxManage: error: Incorrect number of parameters")
    source, target = (str(Path(p).absolute()) for p in args.positional)
    fmt = args.get("--format", default="VDI").upper()
    if fmt not in ("VDI", "VMDK", "RAW"):
        raise Refused(f"--format {fmt} is not simulated")
    if not Path(source).is_file():
        raise Failure(f"VBoxManage: error: Could not find file for the medium '{source}'")
    if Path(target).exists():
        raise Failure(
            f"VBoxManage: error: Cannot register the hard disk '{target}' because a hard disk "
            f"'{target}' already exists"
        )
    with changing("clonemedium") as registry:
        _run(["qemu-img", "convert", "-O", fmt.lower(), source, target])
        registry["media"][target] = _medium_info(Path(target))
        uid = registry["media"][target]["uuid"]
    return f"Clone medium created in format '{fmt}'. UUID: {uid}\n"


def cmd_modifymedium(argv: list[str]) -> str:
    args = Args(argv)
    args.only({"--resize"})
    if args.positional[:1] == ["disk"]:
        args.positional = args.positional[1:]
    path = str(Path(args.positional[0]).absolute())
    size_mb = int(args.get("--resize"))
    with changing("modifymedium") as registry:
        medium = registry["media"].get(path)
        if medium is None:
            registry["media"][path] = medium = _medium_info(Path(path))
        if size_mb < medium["size_mb"]:
            raise Failure("VBoxManage: error: Shrinking is not yet supported for medium")
        if size_mb > medium["size_mb"] and medium["format"] == "VDI":
            # qemu-img cannot resize VDI: write the data into a new, larger VDI
            grown = path + ".grow"
            _run(["qemu-img", "create", "-q", "-f", "vdi", grown, f"{size_mb}M"])
            _run(["qemu-img", "convert", "-n", "--target-is-zero", "-O", "vdi", path, grown])
            os.replace(grown, path)
            medium["size_mb"] = size_mb
        elif size_mb > medium["size_mb"]:
            _run(["qemu-img", "resize", "-q", path, f"{size_mb}M"])
            medium["size_mb"] = size_mb
    return PROGRESS + "\n"


def cmd_closemedium(argv: list[str]) -> str:
    args = Args(argv, flags={"--delete"})
    args.only({"--delete"})
    if args.positional[:1] in (["disk"], ["dvd"]):
        args.positional = args.positional[1:]
    path = str(Path(args.positional[0]).absolute())
    with changing("closemedium") as registry:
        for vm in registry["vms"].values():
            for ctl in vm["storage"].values():
                if any(s["path"] == path for s in ctl["slots"].values()):
                    raise Failure(
                        f"VBoxManage: error: Cannot close medium '{path}' because it has "
                        f"1 children"  # VirtualBox's words for "still attached"
                    )
        registry["media"].pop(path, None)
        if args.has("--delete"):
            Path(path).unlink(missing_ok=True)
    return PROGRESS + "\n" if args.has("--delete") else ""


def cmd_guestproperty(argv: list[str]) -> str:
    if len(argv) < 3 or argv[0] not in ("set", "get", "enumerate"):
        raise Refused(f"guestproperty {' '.join(argv[:1])} is not simulated")
    verb, ref = argv[0], argv[1]
    if verb == "set":
        with changing("guestproperty") as registry:
            vm = find_vm(registry, ref)
            vm["guestproperties"][argv[2]] = argv[3] if len(argv) > 3 else ""
            _write_settings(vm)
        return ""
    registry = load()
    vm = find_vm(registry, ref)
    value = vm["guestproperties"].get(argv[2])
    return "No value set!\n" if value is None else f"Value: {value}\n"


def cmd_setextradata(argv: list[str]) -> str:
    if len(argv) not in (2, 3):
        raise Failure("VBoxManage: error: Incorrect number of parameters")
    with changing("setextradata") as registry:
        vm = find_vm(registry, argv[0])
        if len(argv) == 3:
            vm["extradata"][argv[1]] = argv[2]
        else:
            vm["extradata"].pop(argv[1], None)
        _write_settings(vm)
    return ""


def cmd_sharedfolder(argv: list[str]) -> str:
    if len(argv) < 2 or argv[0] not in ("add", "remove"):
        raise Refused(f"sharedfolder {' '.join(argv[:1])} is not simulated")
    verb, ref, args = argv[0], argv[1], Args(argv[2:], flags={"--automount", "--transient"})
    args.only({"--name", "--hostpath", "--automount", "--auto-mount-point"})
    with changing("sharedfolder") as registry:
        vm = find_vm(registry, ref)
        _mutable(vm)
        name = args.get("--name")
        if verb == "add":
            if name in vm["sharedfolders"]:
                raise Failure(f"VBoxManage: error: Shared folder named '{name}' already exists")
            vm["sharedfolders"][name] = {
                "path": args.get("--hostpath"),
                "automount": args.has("--automount"),
            }
        else:
            vm["sharedfolders"].pop(name, None)
        _write_settings(vm)
    return ""


def cmd_unregistervm(argv: list[str]) -> str:
    args = Args(argv, flags={"--delete"})
    args.only({"--delete"})
    with changing("unregistervm") as registry:
        vm = find_vm(registry, args.positional[0])
        _mutable(vm)
        del registry["vms"][vm["uuid"]]
        if args.has("--delete"):
            for ctl in vm["storage"].values():
                for slot in ctl["slots"].values():
                    if slot["type"] == "hdd":
                        registry["media"].pop(slot["path"], None)
                        Path(slot["path"]).unlink(missing_ok=True)
            shutil.rmtree(vm["folder"], ignore_errors=True)
        else:
            Path(vm["cfgfile"]).unlink(missing_ok=True)
    return PROGRESS + "\n" if args.has("--delete") else ""


# --- host-only networks and DHCP --------------------------------------------------------------


def _allowed() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    path = Path(os.environ.get("VBOXSIM_NETWORKS_CONF", "/etc/vbox/networks.conf"))
    if not path.is_file():
        return list(ALLOWED_DEFAULT)
    nets = []
    for line in path.read_text().splitlines():
        if line.startswith("*"):
            nets += [ipaddress.ip_network(word, strict=False) for word in line[1:].split()]
    return nets


def _ip(*argv: str) -> None:
    _run(["ip", *argv])


def cmd_hostonlyif(argv: list[str]) -> str:
    if not argv or argv[0] not in ("create", "ipconfig", "remove"):
        raise Refused(f"hostonlyif {' '.join(argv[:1])} is not simulated")
    verb = argv[0]
    if verb == "create":
        with changing("hostonlyif create") as registry:
            n = 0
            while f"vboxnet{n}" in registry["hostonlyifs"]:
                n += 1
            name = f"vboxnet{n}"
            _ip("link", "add", name, "type", "bridge")
            _ip("link", "set", name, "up")
            # VirtualBox on Linux gives vboxnetN the address 192.168.(56+N).1/24
            default = f"192.168.{56 + n}.1"
            _ip("addr", "add", f"{default}/24", "dev", name)
            registry["hostonlyifs"][name] = {
                "guid": str(uuid.uuid4()),
                "ip": default,
                "mask": "255.255.255.0",
                "mac": f"0a:00:27:00:00:{n:02x}",
            }
        sys.stderr.write(PROGRESS + "\n")
        return f"Interface '{name}' was successfully created\n"
    name, args = argv[1], Args(argv[2:])
    if verb == "remove":
        with changing("hostonlyif remove") as registry:
            if name not in registry["hostonlyifs"]:
                raise Failure(f"VBoxManage: error: Could not find a host interface named '{name}'")
            del registry["hostonlyifs"][name]
            _stop_dhcp(f"HostInterfaceNetworking-{name}")
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
        sys.stderr.write(PROGRESS + "\n")
        return ""
    args.only({"--ip", "--netmask", "--dhcp"})
    ip, mask = args.get("--ip"), args.get("--netmask", default="255.255.255.0")
    with changing("hostonlyif ipconfig") as registry:
        nif = registry["hostonlyifs"].get(name)
        if nif is None:
            raise Failure(f"VBoxManage: error: Could not find a host interface named '{name}'")
        address = ipaddress.ip_interface(f"{ip}/{mask}")
        if not any(address.ip in net for net in _allowed()):
            raise Failure(
                "VBoxManage: error: Code E_ACCESSDENIED (0x80070005) - Access denied "
                "(extended info not available)",
                'VBoxManage: error: Context: "EnableStaticIPConfig(Bstr(pszIp).raw(), '
                'Bstr(pszNetmask).raw())" at line 242 of file VBoxManageHostonly.cpp',
            )
        subprocess.run(["ip", "addr", "flush", "dev", name], capture_output=True, check=False)
        _ip("addr", "add", str(address), "dev", name)
        nif["ip"], nif["mask"] = ip, mask
    return ""


def _netname(args: Args) -> str:
    if args.get("--ifname", "--interface"):
        return f"HostInterfaceNetworking-{args.get('--ifname', '--interface')}"
    name = args.get("--netname", "--network")
    if not name:
        raise Failure("VBoxManage: error: You need to specify either --network or --interface")
    return name


def cmd_dhcpserver(argv: list[str]) -> str:
    if not argv or argv[0] not in ("add", "modify", "remove"):
        raise Refused(f"dhcpserver {' '.join(argv[:1])} is not simulated")
    verb, args = argv[0], Args(argv[1:], flags={"--enable", "--disable", "--remove-config"})
    args.only({
        "--netname", "--network", "--ifname", "--interface", "--ip", "--server-ip", "--netmask",
        "--lowerip", "--lower-ip", "--upperip", "--upper-ip", "--enable", "--disable",
        "--mac-address", "--fixed-address", "--remove-config",
    })  # fmt: skip
    netname = _netname(args)
    with changing(f"dhcpserver {verb}") as registry:
        servers = registry["dhcpservers"]
        if verb == "add":
            if netname in servers:
                raise Failure(
                    f"VBoxManage: error: DHCP server already exists for network '{netname}'"
                )
            servers[netname] = {"fixed": {}, "enabled": False}
        elif netname not in servers:
            raise Failure(f"VBoxManage: error: DHCP server does not exist ('{netname}')")
        if verb == "remove":
            del servers[netname]
            _stop_dhcp(netname)
            return ""
        dhcp = servers[netname]
        for keys, field in (
            (("--ip", "--server-ip"), "ip"),
            (("--netmask",), "mask"),
            (("--lowerip", "--lower-ip"), "lower"),
            (("--upperip", "--upper-ip"), "upper"),
        ):
            if args.get(*keys):
                dhcp[field] = args.get(*keys)
        if args.has("--enable"):
            dhcp["enabled"] = True
        if args.has("--disable"):
            dhcp["enabled"] = False
        mac = args.get("--mac-address").replace(":", "").lower()
        if mac:
            if args.has("--remove-config"):
                dhcp["fixed"].pop(mac, None)
            elif args.get("--fixed-address"):
                dhcp["fixed"][mac] = args.get("--fixed-address")
        elif args.has("--fixed-address"):
            raise Failure("VBoxManage: error: --fixed-address needs --mac-address or --vm")
        for field in ("ip", "mask", "lower", "upper"):
            if field not in dhcp:
                raise Failure(f"VBoxManage: error: Missing the DHCP server's {field}")
        if _dhcp_running(netname):
            _start_dhcp(registry, netname)  # the new configuration, as VirtualBox's restarts
    return ""


def _dhcp_files(netname: str) -> tuple[Path, Path, Path]:
    folder = home() / "dhcp"
    folder.mkdir(exist_ok=True)
    return folder / f"{netname}.pid", folder / f"{netname}.hosts", folder / f"{netname}.leases"


def _pid_of(pidfile: Path, word: bytes) -> int:
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return 0
    return pid if word in cmdline else 0


def _dhcp_running(netname: str) -> bool:
    pidfile, _, _ = _dhcp_files(netname)
    return bool(_pid_of(pidfile, netname.encode()))


def _stop_dhcp(netname: str) -> None:
    pidfile, _, _ = _dhcp_files(netname)
    pid = _pid_of(pidfile, netname.encode())
    if pid:
        os.kill(pid, signal.SIGTERM)
        _wait_gone(pid)
    pidfile.unlink(missing_ok=True)


def _wait_gone(pid: int) -> None:
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.1)


def _start_dhcp(registry: dict[str, Any], netname: str) -> None:
    """dnsmasq as the network's DHCP server, with its fixed addresses (restarted on change)."""
    dhcp = registry["dhcpservers"][netname]
    interface = netname.removeprefix("HostInterfaceNetworking-")
    _stop_dhcp(netname)
    if not dhcp["enabled"] or interface not in registry["hostonlyifs"]:
        return
    pidfile, hosts, leases = _dhcp_files(netname)
    hosts.write_text("".join(f"{_colons(m)},{ip}\n" for m, ip in sorted(dhcp["fixed"].items())))
    _run([
        "dnsmasq", "--conf-file=/dev/null", "--port=0", f"--pid-file={pidfile}",
        f"--interface={interface}", "--bind-interfaces", "--except-interface=lo",
        f"--dhcp-range={dhcp['lower']},{dhcp['upper']},{dhcp['mask']},10m",
        f"--dhcp-hostsfile={hosts}", f"--dhcp-leasefile={leases}", "--dhcp-authoritative",
        "--dhcp-option=3", "--dhcp-option=6",  # no router, no DNS: VirtualBox's host-only
        f"--log-facility={hosts.with_suffix('.log')}", "--log-dhcp",
        "--user=root",
    ])  # fmt: skip


# --- running VMs -------------------------------------------------------------------------------


def _qmp_path(vm: dict[str, Any]) -> Path:
    # unix socket paths are short (108 bytes): a folder in /tmp named after the registry
    digest = hashlib.sha256(str(home()).encode()).hexdigest()[:12]
    folder = Path("/tmp") / f"vboxsim-{digest}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{vm['uuid'][:13]}.qmp"


def qmp(vm: dict[str, Any], command: str) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(30)
        sock.connect(str(_qmp_path(vm)))
        stream = sock.makefile("rwb")
        stream.readline()  # the greeting
        for execute in ("qmp_capabilities", command):
            stream.write(json.dumps({"execute": execute}).encode() + b"\n")
            stream.flush()
            while True:
                reply = json.loads(stream.readline() or b"{}")
                if "return" in reply or "error" in reply or not reply:
                    break
        return dict(reply)


def _tap(vm: dict[str, Any], n: str) -> str:
    return f"vbt{vm['uuid'][:8]}{n}"


def _qemu_argv(vm: dict[str, Any], registry: dict[str, Any]) -> list[str]:
    folder = Path(vm["folder"])
    logs = folder / "Logs"
    logs.mkdir(parents=True, exist_ok=True)
    argv = [
        "qemu-system-x86_64", "-name", f"{vm['name']},process=vboxsim-{vm['uuid']}",
        "-uuid", vm["uuid"], "-accel", os.environ.get("VBOXSIM_ACCEL", "tcg"),
        "-machine", "q35" if vm["firmware"] == "efi" else "pc",
        "-m", str(vm["memory"]), "-smp", str(vm["cpus"]),
        "-display", "none", "-monitor", "none", "-vga", "std",
        "-serial", f"file:{logs / 'serial.log'}", "-D", str(logs / "VBox.log"),
        "-qmp", f"unix:{_qmp_path(vm)},server=on,wait=off",
        "-pidfile", str(logs / "qemu.pid"), "-daemonize",
    ]  # fmt: skip
    if vm["firmware"] == "efi":
        nvram = folder / f"{vm['name']}.nvram"
        if not nvram.exists():
            shutil.copyfile(OVMF_VARS, nvram)
        argv += ["-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}"]
        argv += ["-drive", f"if=pflash,format=raw,file={nvram}"]
    # boot order: VirtualBox's device classes, first to last
    order = {device: i for i, device in enumerate(d for d in vm["boot"] if d != "none")}
    index = 0
    for ctl in vm["storage"].values():
        bus = f"ahci{ctl['index']}"
        if vm["firmware"] == "efi" and ctl["index"] == 0:
            bus = "ide"  # q35's own AHCI controller
        else:
            argv += ["-device", f"ahci,id={bus}"]
        for slot, medium in sorted(ctl["slots"].items()):
            port = int(slot.split("-")[0])
            drive = f"d{index}"
            index += 1
            hdd = medium["type"] == "hdd"
            fmt = registry["media"].get(medium["path"], {}).get("format", "raw").lower()
            opts = f"if=none,id={drive},file={medium['path']},format={fmt if hdd else 'raw'}"
            if not hdd:
                opts += ",readonly=on,media=cdrom"
            cache = "writeback" if ctl["hostiocache"] == "on" else "none"
            argv += ["-drive", f"{opts},cache={cache}" if hdd else opts]
            device = "ide-hd" if hdd else "ide-cd"
            kind = "disk" if hdd else "dvd"
            boot = f",bootindex={order[kind] * 10 + port}" if kind in order else ""
            argv += ["-device", f"{device},drive={drive},bus={bus}.{port}{boot}"]
    for n, nic in sorted(vm["nics"].items()):
        if nic["type"] in ("none", "null"):
            continue
        model = NIC_MODELS[nic.get("nictype", "82540EM")]
        mac = _colons(nic["mac"])
        if nic["type"] == "nat":
            forwards = []
            for rule in nic.get("forwards", {}).values():
                _name, proto, host_ip, host_port, guest_ip, guest_port = rule.split(",")
                host_ip = host_ip or "0.0.0.0"  # noqa: S104  (VirtualBox's meaning of no host IP)
                forwards.append(f",hostfwd={proto}:{host_ip}:{host_port}-{guest_ip}:{guest_port}")
            netdev = f"user,id=n{n}" + "".join(forwards)
        else:
            adapter = nic.get("hostonlyadapter", "")
            if adapter not in registry["hostonlyifs"]:
                raise Failure(
                    f"VBoxManage: error: Nonexistent host networking interface, name '{adapter}' "
                    "(VERR_INTERNAL_ERROR)"
                )
            netdev = f"tap,id=n{n},ifname={_tap(vm, n)},script=no,downscript=no"
        argv += ["-netdev", netdev, "-device", f"{model},netdev=n{n},mac={mac}"]
    return argv


def cmd_startvm(argv: list[str]) -> str:
    args = Args(argv)
    args.only({"--type"})
    kind = args.get("--type", default="gui")
    if kind not in ("gui", "headless", "sdl", "separate"):
        raise Failure(f"VBoxManage: error: Invalid session type '{kind}'")
    with changing("startvm") as registry:
        vm = find_vm(registry, args.positional[0])
        if vm["state"] == "saved":
            raise Refused("saved states are not simulated")
        if vm["state"] not in ("poweroff", "aborted"):
            raise _locked_error(vm)
        if kind != "headless" and not os.environ.get("DISPLAY"):
            raise Failure(
                "VBoxManage: error: The virtual machine has terminated unexpectedly during "
                "startup because of signal 6"
            )
        argv_qemu = _qemu_argv(vm, registry)
        _qmp_path(vm).unlink(missing_ok=True)
        result = subprocess.run(
            argv_qemu, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            raise Failure(f"VBoxManage: error: The VM session was aborted: {result.stderr.strip()}")
        vm["pid"] = int((Path(vm["folder"]) / "Logs" / "qemu.pid").read_text().strip())
        vm["state"], vm["statechange"] = "running", _now()
        vm.pop("acpi_sent", None)
        for n, nic in vm["nics"].items():
            if nic["type"] == "hostonly":
                adapter = nic["hostonlyadapter"]
                _ip("link", "set", _tap(vm, n), "master", adapter, "up")
                netname = f"HostInterfaceNetworking-{adapter}"
                if netname in registry["dhcpservers"] and not _dhcp_running(netname):
                    _start_dhcp(registry, netname)
        _write_settings(vm)
    return (
        f'Waiting for VM "{vm["name"]}" to power on...\n'
        f'VM "{vm["name"]}" has been successfully started.\n'
    )


def cmd_controlvm(argv: list[str]) -> str:
    if len(argv) < 2:
        raise Failure("VBoxManage: error: Not enough parameters")
    ref, action = argv[0], argv[1]
    if action not in ("acpipowerbutton", "poweroff", "pause", "resume"):
        raise Refused(f"controlvm {action} is not simulated")
    if len(argv) > 2:
        raise Failure(f"VBoxManage: error: Too many parameters for controlvm {action}")
    with changing(f"controlvm {action}") as registry:
        vm = find_vm(registry, ref)
        if vm["state"] not in ("running", "paused"):
            raise Failure(f"VBoxManage: error: Machine '{vm['name']}' is not currently running")
        if action == "acpipowerbutton":
            qmp(vm, "system_powerdown")
            vm["acpi_sent"] = True
        elif action == "pause":
            qmp(vm, "stop")
            vm["state"] = "paused"
        elif action == "resume":
            qmp(vm, "cont")
            vm["state"] = "running"
        else:
            os.kill(int(vm["pid"]), signal.SIGTERM)
            _wait_gone(int(vm["pid"]))
            vm["state"], vm["pid"] = "poweroff", 0
            sys.stderr.write(PROGRESS + "\n")
        vm["statechange"] = _now()
        _write_settings(vm)
    return ""


def stop_everything(registry_home: Path) -> None:
    """Tests' cleanup: every QEMU and dnsmasq this registry started, by PID."""
    path = registry_home / "registry.json"
    if not path.exists():
        return
    registry = json.loads(path.read_text())
    for vm in registry["vms"].values():
        if _alive(vm):
            os.kill(int(vm["pid"]), signal.SIGKILL)
            _wait_gone(int(vm["pid"]))
    for pidfile in (
        (registry_home / "dhcp").glob("*.pid") if (registry_home / "dhcp").is_dir() else []
    ):
        pid = _pid_of(pidfile, pidfile.stem.encode())
        if pid:
            os.kill(pid, signal.SIGTERM)
            _wait_gone(pid)


COMMANDS = {
    "list": cmd_list,
    "showvminfo": cmd_showvminfo,
    "createvm": cmd_createvm,
    "modifyvm": cmd_modifyvm,
    "storagectl": cmd_storagectl,
    "storageattach": cmd_storageattach,
    "clonemedium": cmd_clonemedium,
    "clonehd": cmd_clonemedium,
    "modifymedium": cmd_modifymedium,
    "modifyhd": cmd_modifymedium,
    "closemedium": cmd_closemedium,
    "guestproperty": cmd_guestproperty,
    "setextradata": cmd_setextradata,
    "sharedfolder": cmd_sharedfolder,
    "unregistervm": cmd_unregistervm,
    "hostonlyif": cmd_hostonlyif,
    "dhcpserver": cmd_dhcpserver,
    "startvm": cmd_startvm,
    "controlvm": cmd_controlvm,
}


def main(argv: list[str]) -> int:
    with (home() / "calls.log").open("a") as log:  # what the driver asked, for the tests
        log.write(json.dumps(argv) + "\n")
    if argv in (["--version"], ["-v"], ["-version"]):
        sys.stdout.write(VERSION + "\n")
        return 0
    if argv[:1] in (["-q"], ["--nologo"]):
        argv = argv[1:]
    if argv and argv[0] == os.environ.get("VBOXSIM_FAIL"):  # the tests' fault injection
        sys.stderr.write(f"VBoxManage: error: {argv[0]} failed (injected by VBOXSIM_FAIL)\n")
        return 1
    if not argv or argv[0] not in COMMANDS:
        sys.stderr.write(
            f"VBoxManage: error: Unknown command '{argv[0] if argv else ''}' (not simulated)\n"
        )
        return 2
    try:
        sys.stdout.write(COMMANDS[argv[0]](argv[1:]))
        return 0
    except Failure as failure:
        sys.stderr.write("".join(line + "\n" for line in failure.lines))
        return 1
    except Refused as refused:
        sys.stderr.write(f"VBoxManage: error: vboxsim: {refused} (the simulator refuses it)\n")
        return 2
