"""Disk image formats: converting a boot image to what each hypervisor takes natively.

- qcow2 (QEMU/KVM), raw (anything, dd), vdi (VirtualBox), vmdk (VMware: streamOptimized, the
  compressed form vSphere imports and uploads), and ova: a tar of an OVF descriptor, a manifest of
  SHA-256 digests and the stream vmdk, describing the hardware the VM needs (CPU, memory, the
  disk on a SCSI controller, a CD-ROM, one NIC) and an OVF environment through which a seed can
  reach the guest (VMware's guestinfo properties, or an ISO).

qemu-img does the disk conversions; the OVF descriptor is written here. Nothing is cached in this
module: images.Cache.export keeps converted blobs, content-addressed, so each conversion happens
once per source image.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from machine.errors import ImageError

FORMATS = ("qcow2", "raw", "vmdk", "vdi", "ova")
# what `qemu-img convert -O` is given for each disk format
_QEMU_OPTIONS = {
    "qcow2": ["-O", "qcow2"],
    "raw": ["-O", "raw"],
    "vdi": ["-O", "vdi"],
    "vmdk": ["-O", "vmdk", "-o", "subformat=streamOptimized,adapter_type=lsilogic"],
}
OVF_VERSION = 1  # changes to the descriptor's content change this (cached OVAs are redone)
STREAM_VMDK = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
OVF_NS = "http://schemas.dmtf.org/ovf/envelope/1"
RASD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
VSSD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
VMW_NS = "http://www.vmware.com/schema/ovf"
# the seed's way in on VMware: guestinfo keys that machine-os (machine-seed) and cloud-init read
GUESTINFO_KEYS = (
    "guestinfo.metadata",
    "guestinfo.metadata.encoding",
    "guestinfo.userdata",
    "guestinfo.userdata.encoding",
)


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ImageError(f'unknown image format "{fmt}"', hint=f"Use one of: {', '.join(FORMATS)}.")
    return fmt


def virtual_size(disk: Path) -> int:
    """The disk's size as the guest sees it, in bytes."""
    out = _run(["qemu-img", "info", "--output=json", str(disk)])
    try:
        return int(json.loads(out)["virtual-size"])
    except (ValueError, KeyError, TypeError):
        raise ImageError(f"qemu-img could not read {disk}") from None


def convert_disk(src: Path, fmt: str, dest: Path) -> None:
    """`src` (any format qemu-img reads, or an OVA: its first disk) as `fmt` at `dest`."""
    if sniff_format(src) == "ova":
        inner = dest.with_name(dest.name + ".ova-disk")
        try:
            _first_disk_of_ova(src, inner)
            convert_disk(inner, fmt, dest)
        finally:
            inner.unlink(missing_ok=True)
        return
    src_format = detect_format(src)
    _run(["qemu-img", "convert", "-f", src_format, *_QEMU_OPTIONS[fmt], str(src), str(dest)])


def _first_disk_of_ova(ova: Path, dest: Path) -> None:
    with tarfile.open(ova) as tar:
        for member in tar:
            if member.isfile() and member.name.lower().endswith((".vmdk", ".vhd", ".img")):
                source = tar.extractfile(member)
                if source is not None:
                    with source, open(dest, "wb") as out:
                        shutil.copyfileobj(source, out, 1 << 20)
                    return
    raise ImageError(f"{ova} holds no disk (.vmdk) to boot")


def sniff_format(path: Path) -> str:
    """A disk image's format from its first bytes (no qemu-img needed): qcow2, vmdk, vdi, vhd,
    ova (a tar), else raw."""
    with open(path, "rb") as f:
        head = f.read(512)
        f.seek(0, os.SEEK_END)
        size = f.tell()
        tail = b""
        if size >= 512:
            f.seek(size - 512)
            tail = f.read(512)
    if head.startswith(b"QFI\xfb"):
        return "qcow2"
    if head.startswith(b"KDMV") or head.startswith(b"# Disk DescriptorFile"):
        return "vmdk"
    if head[0x40:0x44] == b"\x7f\x10\xda\xbe":  # VDI's signature, little-endian
        return "vdi"
    if head.startswith(b"conectix") or tail.startswith(b"conectix"):
        return "vhd"
    if head[257:262] == b"ustar":
        return "ova"
    return "raw"


def detect_format(disk: Path) -> str:
    out = _run(["qemu-img", "info", "--output=json", str(disk)])
    try:
        return str(json.loads(out)["format"])
    except (ValueError, KeyError):
        raise ImageError(f"qemu-img could not read {disk}") from None


@dataclass(frozen=True)
class Hardware:
    """What the OVA asks of the hypervisor; a driver resizes the VM after import."""

    name: str
    cpus: int = 2
    memory_mb: int = 2048
    os_id: int = 96  # CIM_OperatingSystem: "Debian 64-Bit"
    vmware_os: str = "debian12_64Guest"


def write_ova(vmdk: Path, capacity: int, hardware: Hardware, dest: Path) -> None:
    """An OVA (a ustar archive: descriptor, manifest, stream vmdk, in that order) at `dest`,
    from a streamOptimized `vmdk` of a disk of `capacity` bytes."""
    disk_name = f"{hardware.name}-disk1.vmdk"
    descriptor = ovf_descriptor(hardware, disk_name, vmdk.stat().st_size, capacity).encode()
    ovf_name = f"{hardware.name}.ovf"
    manifest = (
        f"SHA256({ovf_name})= {hashlib.sha256(descriptor).hexdigest()}\n"
        f"SHA256({disk_name})= {_sha256(vmdk)}\n"
    ).encode()
    with tarfile.open(dest, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in ((ovf_name, descriptor), (f"{hardware.name}.mf", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        # the same bytes for the same disk (no dates, owners or modes of this host)
        info = tarfile.TarInfo(disk_name)
        info.size = vmdk.stat().st_size
        info.mode = 0o644
        with open(vmdk, "rb") as f:
            tar.addfile(info, f)


def ovf_descriptor(hardware: Hardware, disk_file: str, disk_file_size: int, capacity: int) -> str:
    """The OVF 1.x envelope for one VM with the machine-os disk."""
    name = escape(hardware.name)
    items = [
        _item(
            1,
            "Processor",
            3,
            allocation_units="hertz * 10^6",
            quantity=hardware.cpus,
            caption=f"{hardware.cpus} virtual CPU(s)",
        ),
        _item(
            2,
            "Memory",
            4,
            allocation_units="byte * 2^20",
            quantity=hardware.memory_mb,
            caption=f"{hardware.memory_mb} MB of memory",
        ),
        _item(3, "SCSI controller", 6, subtype="lsilogic", address="0"),
        _item(4, "IDE controller", 5, address="0"),
        _item(
            5,
            "Hard disk 1",
            17,
            parent=3,
            address_on_parent="0",
            host_resource="ovf:/disk/vmdisk1",
        ),
        _item(6, "CD-ROM 1", 15, parent=4, address_on_parent="0", automatic=False),
        _item(
            7,
            "Network adapter 1",
            10,
            subtype="VmxNet3",
            connection="VM Network",
            automatic=True,
        ),
    ]
    properties = "\n".join(
        f'      <Property ovf:key="{key}" ovf:type="string" ovf:userConfigurable="true" '
        'ovf:value="">\n'
        f"        <Label>{key}</Label>\n"
        "      </Property>"
        for key in GUESTINFO_KEYS
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="{OVF_NS}" xmlns:ovf="{OVF_NS}"
    xmlns:rasd="{RASD_NS}" xmlns:vssd="{VSSD_NS}" xmlns:vmw="{VMW_NS}">
  <References>
    <File ovf:id="file1" ovf:href={quoteattr(disk_file)} ovf:size="{disk_file_size}"/>
  </References>
  <DiskSection>
    <Info>The virtual disk</Info>
    <Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="{capacity}"
        ovf:capacityAllocationUnits="byte" ovf:format="{STREAM_VMDK}"/>
  </DiskSection>
  <NetworkSection>
    <Info>The network the VM's adapter connects to</Info>
    <Network ovf:name="VM Network">
      <Description>The network the engine is reached on</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{name}">
    <Info>A machine-os Docker host</Info>
    <Name>{name}</Name>
    <ProductSection ovf:required="false">
      <Info>The seed: login key, SSH host key and hostname, as guestinfo</Info>
      <Product>machine-os</Product>
{properties}
    </ProductSection>
    <OperatingSystemSection ovf:id="{hardware.os_id}" vmw:osType="{hardware.vmware_os}">
      <Info>The guest operating system</Info>
      <Description>Debian GNU/Linux 12 (64-bit)</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection ovf:transport="com.vmware.guestInfo iso">
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
{"".join(items)}    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""


def _item(
    instance: int,
    element_name: str,
    resource_type: int,
    *,
    address: str = "",
    address_on_parent: str = "",
    allocation_units: str = "",
    automatic: bool | None = None,
    caption: str = "",
    connection: str = "",
    host_resource: str = "",
    parent: int = 0,
    subtype: str = "",
    quantity: int = 0,
) -> str:
    # CIM_ResourceAllocationSettingData's elements, in its schema's (alphabetical) order
    fields = [
        ("Address", address),
        ("AddressOnParent", address_on_parent),
        ("AllocationUnits", allocation_units),
        ("AutomaticAllocation", "" if automatic is None else str(automatic).lower()),
        ("Caption", caption),
        ("Connection", connection),
        ("ElementName", element_name),
        ("HostResource", host_resource),
        ("InstanceID", str(instance)),
        ("Parent", str(parent) if parent else ""),
        ("ResourceSubType", subtype),
        ("ResourceType", str(resource_type)),
        ("VirtualQuantity", str(quantity) if quantity else ""),
    ]
    lines = "".join(
        f"        <rasd:{tag}>{escape(value)}</rasd:{tag}>\n" for tag, value in fields if value
    )
    return f"      <Item>\n{lines}      </Item>\n"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _run(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        raise ImageError(
            f"{argv[0]} is not installed",
            hint="Install it, e.g. `apt-get install qemu-utils`.",
        )
    result = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-1500:]
        raise ImageError(f"{argv[0]} {argv[1]} failed (exit {result.returncode}): {tail}")
    return result.stdout
