"""Pure builders of libvirt XML: the domain, the private network, storage pool and volumes.

Functions from data to text, compared as XML in the tests; no libvirt import here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

PRIVATE_NETWORK = "docker-machines"
PRIVATE_SUBNET = ("192.168.42.1", "255.255.255.0", "192.168.42.2", "192.168.42.254")


@dataclass(frozen=True)
class DomainSpec:
    name: str
    memory_mb: int
    cpus: int
    accel: str  # "kvm" or "qemu" (software emulation, TCG)
    disk: str  # path of the machine's qcow2 overlay
    seed: str  # path of the NoCloud seed ISO
    network: str  # libvirt network name; "" for user-mode networking (qemu:///session)
    mac: str
    console_log: str = ""
    kernel: str = ""  # direct kernel boot (machine-os): kernel, initrd, command line
    initrd: str = ""
    cmdline: str = ""
    cache_mode: str = "default"
    io_mode: str = "threads"
    forwards: tuple[tuple[int, int], ...] = ()  # (host port on 127.0.0.1, guest port)


def domain(spec: DomainSpec) -> str:
    os_lines = ["    <type arch='x86_64' machine='pc'>hvm</type>"]
    if spec.kernel:
        os_lines += [
            f"    <kernel>{escape(spec.kernel)}</kernel>",
            f"    <initrd>{escape(spec.initrd)}</initrd>",
            f"    <cmdline>{escape(spec.cmdline)}</cmdline>",
        ]
    else:
        os_lines.append("    <boot dev='hd'/>")
    cache = f" cache={quoteattr(spec.cache_mode)}" if spec.cache_mode != "default" else ""
    io = f" io={quoteattr(spec.io_mode)}" if spec.io_mode and spec.cache_mode != "default" else ""
    devices = [
        f"    <disk type='file' device='disk'>\n"
        f"      <driver name='qemu' type='qcow2'{cache}{io}/>\n"
        f"      <source file={quoteattr(spec.disk)}/>\n"
        f"      <target dev='vda' bus='virtio'/>\n"
        f"    </disk>",
        seed_disk(spec.seed),
    ]
    if spec.network:
        devices.append(
            f"    <interface type='network'>\n"
            f"      <source network={quoteattr(spec.network)}/>\n"
            f"      <mac address={quoteattr(spec.mac)}/>\n"
            f"      <model type='virtio'/>\n"
            f"    </interface>"
        )
    if spec.console_log:
        devices.append(
            f"    <serial type='file'>\n"
            f"      <source path={quoteattr(spec.console_log)}/>\n"
            f"      <target port='0'/>\n"
            f"    </serial>"
        )
    devices.append("    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>")
    xmlns = " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'" if not spec.network else ""
    lines = [
        f"<domain type={quoteattr(spec.accel)}{xmlns}>",
        f"  <name>{escape(spec.name)}</name>",
        f"  <memory unit='MiB'>{spec.memory_mb}</memory>",
        f"  <vcpu>{spec.cpus}</vcpu>",
        "  <os>",
        *os_lines,
        "  </os>",
        "  <features><acpi/><apic/></features>",
    ]
    if spec.accel == "kvm":
        lines.append("  <cpu mode='host-passthrough'/>")
    lines += [
        "  <on_poweroff>destroy</on_poweroff>",
        "  <on_reboot>restart</on_reboot>",
        "  <devices>",
        *devices,
        "  </devices>",
    ]
    if not spec.network:
        # user-mode networking with port forwards: needs no root and no bridge
        fwd = ",".join(f"hostfwd=tcp:127.0.0.1:{h}-:{g}" for h, g in spec.forwards)
        lines += [
            "  <qemu:commandline>",
            "    <qemu:arg value='-netdev'/>",
            f"    <qemu:arg value={quoteattr(f'user,id=machinenet0,{fwd}')}/>",
            "    <qemu:arg value='-device'/>",
            "    <qemu:arg value="
            + quoteattr(f"virtio-net-pci,netdev=machinenet0,mac={spec.mac},addr=0x9")
            + "/>",
            "  </qemu:commandline>",
        ]
    lines.append("</domain>")
    return "\n".join(lines) + "\n"


def seed_disk(path: str) -> str:
    """The seed ISO as the domain's second disk (also what detaching it names)."""
    return (
        f"    <disk type='file' device='disk'>\n"
        f"      <driver name='qemu' type='raw'/>\n"
        f"      <source file={quoteattr(path)}/>\n"
        f"      <target dev='vdb' bus='virtio'/>\n"
        f"      <readonly/>\n"
        f"    </disk>"
    )


def private_network(name: str = PRIVATE_NETWORK) -> str:
    address, netmask, start, end = PRIVATE_SUBNET
    return (
        f"<network>\n  <name>{escape(name)}</name>\n  <forward mode='nat'/>\n"
        f"  <ip address='{address}' netmask='{netmask}'>\n"
        f"    <dhcp><range start='{start}' end='{end}'/></dhcp>\n  </ip>\n</network>\n"
    )


def dhcp_host(mac: str, ip: str, name: str) -> str:
    named = f" name={quoteattr(name)}" if name else ""
    return f"<host mac={quoteattr(mac)}{named} ip={quoteattr(ip)}/>"


def reserved_addresses(network_xml: str) -> set[str]:
    """The addresses the network's DHCP host entries reserve."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(network_xml)  # noqa: S314 (libvirtd's own XML)
    return {h.get("ip") or "" for h in root.iterfind("./ip/dhcp/host")} - {""}


def pinned_ip(network_xml: str, mac: str) -> str:
    """The address a network's DHCP host entry reserves for this MAC ("" if none does)."""
    import xml.etree.ElementTree as ET

    # the XML comes from libvirtd, not from a user or the network
    for host in ET.fromstring(network_xml).iterfind("./ip/dhcp/host"):  # noqa: S314
        if (host.get("mac") or "").lower() == mac.lower() and host.get("ip"):
            return str(host.get("ip"))
    return ""


def free_addresses(network_xml: str, leased: Collection[str]) -> Iterator[str]:
    """The IPv4 addresses of the network's DHCP ranges that no host entry reserves and no lease
    holds, in order: candidates for a VM's address before it boots."""
    import ipaddress
    import xml.etree.ElementTree as ET

    root = ET.fromstring(network_xml)  # noqa: S314 (libvirtd's own XML)
    taken = set(leased) | reserved_addresses(network_xml)
    for rng in root.iterfind("./ip/dhcp/range"):
        try:
            first = ipaddress.IPv4Address(rng.get("start") or "")
            last = ipaddress.IPv4Address(rng.get("end") or "")
        except ValueError:  # an IPv6 range
            continue
        for value in range(int(first), int(last) + 1):
            address = str(ipaddress.IPv4Address(value))
            if address not in taken:
                yield address


def volume_mtime(volume_xml: str) -> str:
    """The volume's target/timestamps/mtime as libvirt writes it (seconds.nanoseconds)."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(volume_xml)  # noqa: S314 (libvirtd's own XML)
    return root.findtext("./target/timestamps/mtime") or ""


def pool(name: str, path: str) -> str:
    return (
        f"<pool type='dir'>\n  <name>{escape(name)}</name>\n"
        f"  <target><path>{escape(path)}</path></target>\n</pool>\n"
    )


def volume(
    name: str, capacity_bytes: int, fmt: str, backing: str = "", backing_format: str = "qcow2"
) -> str:
    lines = [
        "<volume>",
        f"  <name>{escape(name)}</name>",
        f"  <capacity unit='bytes'>{capacity_bytes}</capacity>",
        f"  <target><format type={quoteattr(fmt)}/></target>",
    ]
    if backing:
        lines += [
            "  <backingStore>",
            f"    <path>{escape(backing)}</path>",
            f"    <format type={quoteattr(backing_format)}/>",
            "  </backingStore>",
        ]
    lines.append("</volume>")
    return "\n".join(lines) + "\n"
