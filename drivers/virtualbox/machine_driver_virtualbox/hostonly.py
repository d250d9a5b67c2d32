"""The host-only network a machine's engine is reached on, and the VM's fixed address on it.

One host-only interface per CIDR, reused by every machine (and by other tools) that asks for
the same one, never duplicated; its DHCP server likewise. Each VM gets a DHCP reservation for
its host-only MAC, chosen before it boots, so the address, and the server certificate made for
it, stay the same across restarts (docker-machine's users regenerated certificates after
every restart that moved a VM to another address).

What this store made (an interface, a DHCP server) is written down in the store, and removed
with the last machine that used it. Callers hold the VBoxManage lock across `prepare` and
`release`: two creates at once must not both make a vboxnet for the same CIDR.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from machine.driver import PRIVATE_FILE, DriverError, PreCreateCheckFailed, write_atomic
from machine_driver_virtualbox import parse
from machine_driver_virtualbox.vbm import VBoxError, VBoxManage

DEFAULT_CIDR = "192.168.59.1/24"  # inside VirtualBox 6.1.28+'s allowed 192.168.56.0/21
ALLOWED_BY_DEFAULT = ipaddress.ip_network("192.168.56.0/21")
NETWORKS_CONF = Path("/etc/vbox/networks.conf")
MADE_FILE = "virtualbox-networks.json"  # in the store: what this store made


@dataclass(frozen=True)
class Plan:
    """The host side of a host-only CIDR such as 192.168.59.1/24."""

    host: ipaddress.IPv4Interface

    @property
    def network(self) -> ipaddress.IPv4Network:
        return self.host.network

    @property
    def mask(self) -> str:
        return str(self.host.netmask)

    def dhcp_range(self) -> tuple[str, str, str]:
        """(server, lower, upper): docker-machine's layout, .100 up on a /24 or larger, and
        the addresses after the host's on a smaller network."""
        net = self.network
        base = int(net.network_address)
        last = int(net.broadcast_address) - 1
        if net.prefixlen <= 24:
            server, lower = base + 100, base + 101
        else:
            server = int(self.host.ip) + 1
            lower = server + 1
        if lower > last:
            raise PreCreateCheckFailed(f"host-only network {net} is too small for a DHCP range")
        return (
            str(ipaddress.IPv4Address(server)),
            str(ipaddress.IPv4Address(lower)),
            str(ipaddress.IPv4Address(last)),
        )


def plan(cidr: str) -> Plan:
    """The CIDR users give (`--virtualbox-hostonly-cidr`), checked: an address of the host
    inside its network, neither the network nor the broadcast address."""
    try:
        host = ipaddress.IPv4Interface(cidr)
    except ValueError:
        raise PreCreateCheckFailed(
            f"--virtualbox-hostonly-cidr {cidr!r} is not an IPv4 address with a prefix length",
            hint=f"For example {DEFAULT_CIDR} (the host's address on the network).",
        ) from None
    net = host.network
    if net.prefixlen > 29 or host.ip in (net.network_address, net.broadcast_address):
        raise PreCreateCheckFailed(
            f"--virtualbox-hostonly-cidr {cidr}: give the host's address on a network of at "
            f"least 8 addresses, such as {DEFAULT_CIDR}"
        )
    return Plan(host)


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The host-only ranges VirtualBox 6.1.28+ accepts on Linux and macOS."""
    if not NETWORKS_CONF.is_file():
        return [ALLOWED_BY_DEFAULT]
    out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for line in NETWORKS_CONF.read_text(errors="replace").splitlines():
        if line.strip().startswith("*"):
            for word in line.strip()[1:].split():
                try:
                    out.append(ipaddress.ip_network(word, strict=False))
                except ValueError:
                    continue
    return out


def check_allowed(p: Plan, version: tuple[int, int, int]) -> None:
    if version < (6, 1, 28) or sys.platform == "win32":
        return
    if any(p.host.ip in net for net in allowed_networks()):
        return
    raise PreCreateCheckFailed(
        f"VirtualBox {'.'.join(map(str, version))} refuses host-only network {p.network} "
        "(it allows 192.168.56.0/21 unless /etc/vbox/networks.conf says more; creating it "
        "would fail with E_ACCESSDENIED)",
        hint=f"Allow it with the line `* {p.network}` in /etc/vbox/networks.conf (as root), "
        f"or use the default --virtualbox-hostonly-cidr {DEFAULT_CIDR}.",
    )


def check_host_collision(p: Plan, interfaces: list[parse.HostOnlyInterface]) -> None:
    """The CIDR must not be a network the host already has on a real interface."""
    import shutil
    import subprocess

    if shutil.which("ip") is None:
        return
    result = subprocess.run(
        ["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        return
    ours = {i.name for i in interfaces}
    for link in json.loads(result.stdout or "[]"):
        if link.get("ifname") in ours:
            continue
        for info in link.get("addr_info", []):
            try:
                theirs = ipaddress.IPv4Interface(f"{info['local']}/{info['prefixlen']}")
            except (KeyError, ValueError):
                continue
            if theirs.network.overlaps(p.network):
                raise PreCreateCheckFailed(
                    f"host-only network {p.network} overlaps {theirs.network} of the host's "
                    f"interface {link.get('ifname')}",
                    hint="Choose another with --virtualbox-hostonly-cidr.",
                )


def matching(p: Plan, interfaces: list[parse.HostOnlyInterface]) -> parse.HostOnlyInterface | None:
    same = [i for i in interfaces if i.ip == str(p.host.ip) and i.mask == p.mask]
    if len(same) > 1:
        names = ", ".join(i.name for i in same)
        raise DriverError(
            f"VirtualBox is configured with multiple host-only adapters with the same IP "
            f"{p.host.ip} ({names}): remove all but one of them"
        )
    return same[0] if same else None


@dataclass(frozen=True)
class Attachment:
    interface: str
    network: str  # the DHCP server's network name
    ip: str  # the VM's reserved address


@dataclass(frozen=True)
class _Network:
    interface: str
    network: str
    lower: str
    upper: str
    taken: frozenset[str]  # reserved addresses, the server's and the host's
    fixed: dict[str, str]  # MAC (lower case) -> reserved address


def _network(vbm: VBoxManage, p: Plan, store: Path, record: Callable[[str, str], None]) -> _Network:
    """The interface and DHCP server for `p`, found or made."""
    interface = matching(p, parse.hostonlyifs(vbm("list", "hostonlyifs")))
    if interface is None:
        name = parse.created_interface(vbm("hostonlyif", "create"))
        if not name:
            raise DriverError("VBoxManage hostonlyif create did not name the new interface")
        _made(store, name, "interface")
        record("hostonlyif", name)
        try:
            vbm("hostonlyif", "ipconfig", name, "--ip", str(p.host.ip), "--netmask", p.mask)
        except VBoxError as exc:
            if exc.mentions("E_ACCESSDENIED"):
                raise DriverError(
                    f"VirtualBox refused host-only network {p.network} (E_ACCESSDENIED): allow "
                    f"it with the line `* {p.network}` in /etc/vbox/networks.conf, or use "
                    f"--virtualbox-hostonly-cidr {DEFAULT_CIDR}"
                ) from None
            raise
        interface = parse.HostOnlyInterface(name, str(p.host.ip), p.mask, "")
    network = interface.network or f"HostInterfaceNetworking-{interface.name}"
    server = next(
        (s for s in parse.dhcpservers(vbm("list", "dhcpservers")) if s.network == network), None
    )
    ip_server, lower, upper = p.dhcp_range()
    fixed: dict[str, str] = {}
    if server is None:
        vbm(
            *("dhcpserver", "add", "--netname", network, "--ip", ip_server),
            *("--netmask", p.mask, "--lowerip", lower, "--upperip", upper, "--enable"),
        )
        _made(store, network, "dhcpserver")
        record("dhcpserver", network)
    else:
        in_range = _inside(p, server.lower) and _inside(p, server.upper)
        if not in_range:  # a server left from another configuration of this interface
            vbm(
                *("dhcpserver", "modify", "--netname", network, "--ip", ip_server),
                *("--netmask", p.mask, "--lowerip", lower, "--upperip", upper, "--enable"),
            )
        else:
            if not server.enabled:
                vbm("dhcpserver", "modify", "--netname", network, "--enable")
            lower, upper, ip_server = server.lower, server.upper, server.ip
        fixed = dict(server.fixed)
    taken = frozenset(fixed.values()) | {ip_server, str(p.host.ip)}
    return _Network(interface.name, network, lower, upper, taken, fixed)


def prepare(
    vbm: VBoxManage, p: Plan, mac: str, store: Path, record: Callable[[str, str], None]
) -> Attachment:
    """The network for `p` (found or made) and a new reservation for `mac`.
    Call with vbm.held()."""
    net = _network(vbm, p, store, record)
    ip = _free_address(net.lower, net.upper, set(net.taken))
    record("reservation", f"{net.network} {mac} {ip}")
    _reserve(vbm, net.network, mac, ip)
    return Attachment(net.interface, net.network, ip)


def prepare_existing(vbm: VBoxManage, p: Plan, mac: str, ip: str, store: Path) -> Attachment:
    """Before a VM starts again: its network and its reservation are there (made again when
    someone removed them). Call with vbm.held()."""
    net = _network(vbm, p, store, lambda kind, ident: None)
    if net.fixed.get(mac.lower()) != ip:
        holder = next((m for m, a in net.fixed.items() if a == ip), "")
        if holder:
            raise DriverError(
                f"the machine's address {ip} is now reserved on {net.interface} for another "
                f"MAC ({holder}): remove that reservation, or this machine and create it again"
            )
        _reserve(vbm, net.network, mac, ip)
    return Attachment(net.interface, net.network, ip)


def _reserve(vbm: VBoxManage, network: str, mac: str, ip: str) -> None:
    vbm("dhcpserver", "modify", "--netname", network, "--mac-address", mac, "--fixed-address", ip)


def _inside(p: Plan, address: str) -> bool:
    try:
        return ipaddress.IPv4Address(address) in p.network
    except ValueError:
        return False


def _free_address(lower: str, upper: str, taken: set[str]) -> str:
    low, high = int(ipaddress.IPv4Address(lower)), int(ipaddress.IPv4Address(upper))
    for n in range(low, high + 1):
        if str(ipaddress.IPv4Address(n)) not in taken:
            return str(ipaddress.IPv4Address(n))
    raise DriverError(f"no free address left in the host-only DHCP range {lower}-{upper}")


def unreserve(vbm: VBoxManage, network: str, mac: str) -> None:
    """Drop a VM's reservation (already gone is fine)."""
    for server in parse.dhcpservers(vbm("list", "dhcpservers")):
        if server.network == network and mac.lower() in server.fixed:
            vbm("dhcpserver", "modify", "--netname", network, "--mac-address", mac,
                "--remove-config")  # fmt: skip


def release_if_unused(vbm: VBoxManage, interface: str, network: str, store: Path) -> None:
    """Remove the interface and DHCP server if this store made them and no VM uses them.
    Call with vbm.held()."""
    made = _load(store)
    mine = made.get(interface, [])
    if not mine:
        return
    for ident in parse.vms(vbm("list", "vms")):
        info = parse.machinereadable(vbm("showvminfo", ident, "--machinereadable"))
        if any(k.startswith("hostonlyadapter") and v == interface for k, v in info.items()):
            return  # still in use (by a machine, or anything else in VirtualBox)
    if "dhcpserver" in mine:
        try:
            vbm("dhcpserver", "remove", "--netname", network)
        except VBoxError as exc:
            if "does not exist" not in exc.stderr:
                raise
    if "interface" in mine:
        try:
            vbm("hostonlyif", "remove", interface)
        except VBoxError as exc:
            if "Could not find" not in exc.stderr:
                raise
    made.pop(interface, None)
    made.pop(network, None)
    _save(store, made)


def _made(store: Path, name: str, kind: str) -> None:
    made = _load(store)
    if kind == "dhcpserver":  # filed under its interface, removed with it
        name = name.removeprefix("HostInterfaceNetworking-")
    made.setdefault(name, [])
    if kind not in made[name]:
        made[name].append(kind)
    _save(store, made)


def _load(store: Path) -> dict[str, list[str]]:
    path = store / MADE_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): [str(x) for x in v] for k, v in data.items() if isinstance(v, list)}


def _save(store: Path, made: dict[str, list[str]]) -> None:
    write_atomic(store / MADE_FILE, (json.dumps(made, indent=2) + "\n").encode(), PRIVATE_FILE)
