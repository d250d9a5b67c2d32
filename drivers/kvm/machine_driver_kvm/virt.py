"""The one adapter to libvirt: connection, storage pool and volumes, networks, domains.

libvirt-python is imported here only, when a kvm machine is used; if it is missing, the error
says how to install it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from machine.driver import DriverError, attempts
from machine_driver_kvm import xml

POOL = "machine"
CHUNK = 4 << 20
PARTIAL = ".partial"  # the marker volume beside a volume being uploaded
# A killed create's marker is known by its volumes not changing for this long (an upload
# writes every few milliseconds; a loaded host stalls it for seconds, not a minute).
STALE_UPLOAD = 60.0


def libvirt_module() -> Any:
    try:
        import libvirt
    except ImportError:
        raise DriverError(
            "the kvm driver needs libvirt-python",
            hint="Install it: `apt-get install libvirt-dev pkg-config` then "
            "`pip install libvirt-python` (or reinstall machine-driver-kvm).",
        ) from None
    # libvirt prints every error to stderr by default; ours carry the message instead
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt


class Virt:
    def __init__(self, uri: str) -> None:
        self.lv = libvirt_module()
        self.uri = uri
        try:
            self.conn = self.lv.open(uri)
        except self.lv.libvirtError as exc:
            raise DriverError(
                f"cannot connect to libvirt at {uri or 'its default URI'}: {exc}",
                hint="Start libvirtd (`systemctl start libvirtd`, or `libvirtd -d` where there "
                "is no systemd), or use --kvm-connection-uri qemu:///session (needs no root).",
            ) from None

    def close(self) -> None:
        self.conn.close()

    @property
    def session(self) -> bool:
        from machine_driver_kvm import is_session

        return is_session(self.uri)

    # --- storage ----------------------------------------------------------------------------

    def pool(self) -> Any:
        try:
            pool = self.conn.storagePoolLookupByName(POOL)
        except self.lv.libvirtError:
            base = (
                Path.home() / ".local/share/libvirt/images"
                if self.session
                else Path("/var/lib/libvirt/images")
            )
            pool = self.conn.storagePoolDefineXML(xml.pool(POOL, str(base / POOL)), 0)
            pool.build(0)
            pool.setAutostart(1)
        if not pool.isActive():
            pool.create(0)
        try:  # to see volumes changed behind libvirt's back
            pool.refresh(0)
        except self.lv.libvirtError as exc:
            # Another create is writing a volume into the pool (parallel creates), and libvirt
            # refuses a refresh meanwhile. What libvirt made is listed without one: go on.
            if "asynchronous jobs" not in str(exc):
                raise
        return pool

    def volume(self, name: str) -> Any | None:
        try:
            return self.pool().storageVolLookupByName(name)
        except self.lv.libvirtError:
            return None

    def upload_file(self, name: str, path: Path, fmt: str, deadline: float) -> str:
        """A volume holding `path`, uploaded once per pool and reused after (a base image).

        Parallel creates upload it once: the uploader first makes the marker volume
        NAME.partial (libvirt makes one volume of a name only, so one create wins) and deletes
        it when the upload is complete; the others wait for the marker to go. A marker whose
        volumes stop changing for STALE_UPLOAD seconds was left by a create that was killed
        mid-upload: both are deleted and the upload starts over, so a truncated base image is
        never booted."""
        marker_name = name + PARTIAL
        watched: tuple[str, str] | None = None
        since = time.monotonic()
        for _ in attempts(deadline, first=0.5, cap=1.0):
            vol, marker = self.volume(name), self.volume(marker_name)
            if marker is None:
                if vol is not None:
                    return str(vol.path())
                if self._create_volume(marker_name, 0, "raw") is None:
                    continue  # another create won the marker: wait for its upload
                try:
                    vol = self.volume(name)  # complete: made between the two looks above
                    if vol is None:
                        vol = self._upload(name, path, fmt)
                finally:
                    self.delete_volume(marker_name)  # also when the upload failed
                return str(vol.path())
            seen = (_mtime(vol), _mtime(marker))
            if seen != watched:
                watched, since = seen, time.monotonic()
            elif time.monotonic() - since > STALE_UPLOAD:
                self.delete_volume(name)
                self.delete_volume(marker_name)
        raise DriverError(
            f"timed out waiting for another create's upload of {name} into libvirt's pool",
            hint=f"If no other create runs, delete the volumes {name} and {marker_name} "
            f"(`virsh vol-delete --pool {POOL} NAME`) and create again.",
        )

    def _create_volume(self, name: str, size: int, fmt: str) -> Any | None:
        """A new volume, or None when one of that name exists (made by another create)."""
        try:
            return self.pool().createXML(xml.volume(name, size, fmt), 0)
        except self.lv.libvirtError as exc:
            if exc.get_error_code() == self.lv.VIR_ERR_STORAGE_VOL_EXIST:
                return None
            raise

    def _upload(self, name: str, path: Path, fmt: str) -> Any:
        size = path.stat().st_size
        vol = self.pool().createXML(xml.volume(name, size, fmt), 0)
        try:
            stream = self.conn.newStream(0)
            vol.upload(stream, 0, size, 0)
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    stream.send(chunk)
            stream.finish()
        except BaseException:
            with contextlib.suppress(self.lv.libvirtError):
                vol.delete(0)  # a truncated image must never be booted
            raise
        return vol

    def upload_bytes(self, name: str, data: bytes) -> str:
        self.delete_volume(name)
        vol = self.pool().createXML(xml.volume(name, len(data), "raw"), 0)
        stream = self.conn.newStream(0)
        vol.upload(stream, 0, len(data), 0)
        stream.send(data)
        stream.finish()
        return str(vol.path())

    def overlay(self, name: str, backing: str, capacity_bytes: int) -> str:
        """A copy-on-write qcow2 on top of `backing`, as large as asked."""
        self.delete_volume(name)
        vol = self.pool().createXML(xml.volume(name, capacity_bytes, "qcow2", backing), 0)
        return str(vol.path())

    def delete_volume(self, name: str) -> None:
        vol = self.volume(name)
        if vol is not None:
            vol.delete(0)

    # --- networks ---------------------------------------------------------------------------

    def has_network(self, name: str) -> bool:
        """The network exists, or is the private one made when needed."""
        if name == xml.PRIVATE_NETWORK:
            return True
        try:
            self.conn.networkLookupByName(name)
        except self.lv.libvirtError:
            return False
        return True

    def network(self, name: str) -> Any:
        try:
            net = self.conn.networkLookupByName(name)
        except self.lv.libvirtError:
            if name != xml.PRIVATE_NETWORK:
                raise DriverError(
                    f'libvirt network "{name}" does not exist',
                    hint=f"Create it, or use --kvm-network default (or {xml.PRIVATE_NETWORK}, "
                    "which is made when needed).",
                ) from None
            net = self.conn.networkDefineXML(xml.private_network(name))
            net.setAutostart(1)
        if not net.isActive():
            net.create()
        return net

    def lease(self, net: Any, mac: str) -> str:
        try:
            leases = net.DHCPLeases(mac, 0)
        except self.lv.libvirtError:
            leases = []
        ipv4 = [
            lease
            for lease in leases
            if lease.get("type") == self.lv.VIR_IP_ADDR_TYPE_IPV4 and lease.get("ipaddr")
        ]
        # a lease from before the last boot can linger beside the new one: take the newest
        ipv4.sort(key=lambda lease: int(lease.get("expirytime") or 0), reverse=True)
        return str(ipv4[0]["ipaddr"]) if ipv4 else ""

    def pinned_ip(self, net: Any, mac: str) -> str:
        """The address the network reserves for this MAC: dnsmasq hands out exactly that one."""
        try:
            return xml.pinned_ip(net.XMLDesc(0), mac)
        except self.lv.libvirtError:
            return ""

    def pin_lease(self, net: Any, mac: str, ip: str, name: str) -> None:
        """Keep this IP for this MAC across restarts (so server certs stay valid)."""
        flags = self.lv.VIR_NETWORK_UPDATE_AFFECT_CONFIG
        if net.isActive():
            flags |= self.lv.VIR_NETWORK_UPDATE_AFFECT_LIVE
        try:
            net.update(
                self.lv.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                self.lv.VIR_NETWORK_SECTION_IP_DHCP_HOST,
                -1,
                xml.dhcp_host(mac, ip, name),
                flags,
            )
        except self.lv.libvirtError as exc:
            if "there is an existing dhcp host entry" not in str(exc).lower():
                raise

    def reserve_address(self, net: Any, mac: str, name: str, before: Callable[[str], None]) -> str:
        """A free address of the network's DHCP range, reserved for `mac` before the VM boots
        (so its server certificate can be made first). `before` is called with each candidate
        before it is reserved (the journal: a create killed then leaves nothing unaccounted).
        libvirt refuses a second entry for one address, so parallel creates never share one."""
        try:
            leases = net.DHCPLeases(None, 0)
        except self.lv.libvirtError:
            leases = []
        leased = {str(lease.get("ipaddr")) for lease in leases if lease.get("ipaddr")}
        flags = self.lv.VIR_NETWORK_UPDATE_AFFECT_CONFIG
        if net.isActive():
            flags |= self.lv.VIR_NETWORK_UPDATE_AFFECT_LIVE
        named = True
        for ip in xml.free_addresses(net.XMLDesc(0), leased):
            before(ip)
            try:
                net.update(
                    self.lv.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                    self.lv.VIR_NETWORK_SECTION_IP_DHCP_HOST,
                    -1,
                    xml.dhcp_host(mac, ip, name if named else ""),
                    flags,
                )
                return ip
            except self.lv.libvirtError as exc:
                if "existing dhcp host entry" not in str(exc).lower():
                    raise
                # another create took this address meanwhile; or an entry (another store's)
                # already has this host name: then reserve without one
                if ip not in xml.reserved_addresses(net.XMLDesc(0)):
                    named = False
        raise DriverError(
            f"libvirt network {net.name()!r} has no free address in its DHCP range",
            hint="Remove machines you no longer need, or use another --kvm-network.",
        )

    def unpin_lease(self, network: str, mac: str, ip: str, name: str) -> None:
        try:
            net = self.conn.networkLookupByName(network)
        except self.lv.libvirtError:
            return
        flags = self.lv.VIR_NETWORK_UPDATE_AFFECT_CONFIG
        if net.isActive():
            flags |= self.lv.VIR_NETWORK_UPDATE_AFFECT_LIVE
        # named as it was reserved: with the machine's name, or without one (reserve_address)
        for entry in (xml.dhcp_host(mac, ip, name), xml.dhcp_host(mac, ip, "")):
            with contextlib.suppress(self.lv.libvirtError):  # not pinned, or already gone
                net.update(
                    self.lv.VIR_NETWORK_UPDATE_COMMAND_DELETE,
                    self.lv.VIR_NETWORK_SECTION_IP_DHCP_HOST,
                    -1,
                    entry,
                    flags,
                )
                return

    def remove_private_network_if_unused(self, name: str) -> None:
        if name != xml.PRIVATE_NETWORK:
            return  # only the network we made ourselves is ours to remove
        for dom in self.conn.listAllDomains(0):
            if f"network='{name}'" in dom.XMLDesc(0):
                return
        try:
            net = self.conn.networkLookupByName(name)
        except self.lv.libvirtError:
            return
        if net.isActive():
            net.destroy()
        net.undefine()

    # --- domains ----------------------------------------------------------------------------

    def domain(self, name: str) -> Any | None:
        try:
            return self.conn.lookupByName(name)
        except self.lv.libvirtError:
            return None

    def interface_ip(self, dom: Any, mac: str) -> str:
        try:
            ifaces = dom.interfaceAddresses(self.lv.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, 0)
        except self.lv.libvirtError:
            return ""
        for iface in ifaces.values():
            if (iface.get("hwaddr") or "").lower() != mac.lower():
                continue
            for addr in iface.get("addrs") or []:
                if addr.get("type") == self.lv.VIR_IP_ADDR_TYPE_IPV4:
                    return str(addr["addr"])
        return ""

    def wait_for_ip(self, dom: Any, network: str, mac: str, deadline: float) -> str:
        net = self.network(network)
        for _ in attempts(deadline, first=0.5, factor=1.5, cap=2.0):
            ip = self.lease(net, mac) or self.interface_ip(dom, mac)
            if ip:
                return ip
        raise DriverError(
            f"the VM got no IP address from network {network!r} in time",
            hint="Check the VM's console log in its machine folder.",
        )


def kvm_usable() -> bool:
    """Whether /dev/kvm exists and this user may open it (a probe boot decides the rest)."""
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def _mtime(vol: Any | None) -> str:
    """When the volume's file last changed, as libvirt reports it ("" for no volume)."""
    if vol is None:
        return ""
    try:
        return xml.volume_mtime(vol.XMLDesc(0))
    except Exception:  # deleted meanwhile (libvirtError): a change too
        return "gone"
