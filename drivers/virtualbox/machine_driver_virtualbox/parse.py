"""VBoxManage's outputs, as VirtualBox 5.2, 6.1 and 7.x print them, into plain data.

Each parser takes stdout as text and never fails on a line it does not know: VirtualBox adds
lines between releases (6.1 added `Wireless:` to host-only interfaces, and rewrote the DHCP
server listing with per-MAC "Individual Configs"). tests/fixtures/vboxmanage holds outputs of
each release the parsers are checked against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_VM_LINE = re.compile(r'^"(?P<name>.*)" \{(?P<uuid>[0-9a-fA-F-]{36})\}$')


def vms(text: str) -> dict[str, str]:
    """`list vms` / `list runningvms`: {uuid: name}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _VM_LINE.match(line.strip())
        if m:
            out[m.group("uuid").lower()] = m.group("name")
    return out


def machinereadable(text: str) -> dict[str, str]:
    """`showvminfo --machinereadable`: key=value lines, either side possibly quoted (keys with
    spaces or dashes are, as in "SATA-0-0"), with `\\"` and `\\\\` escaped inside quotes."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "=" not in line:
            continue
        key, rest = _token(line)
        if not rest.startswith("="):
            continue
        value, _ = _token(rest[1:])
        out[key] = value
    return out


def _token(text: str) -> tuple[str, str]:
    """One token (quoted or bare) and what follows it."""
    if not text.startswith('"'):
        end = text.find("=")
        if end < 0:
            return text, ""
        return text[:end], text[end:]
    out = []
    i = 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), text[i + 1 :]
        out.append(c)
        i += 1
    return "".join(out), ""


def blocks(text: str) -> list[dict[str, str]]:
    """Blank-line separated blocks of `Key: value` lines (list hostonlyifs)."""
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                out.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            current.setdefault(key.strip(), value.strip())
    if current:
        out.append(current)
    return out


@dataclass(frozen=True)
class HostOnlyInterface:
    name: str
    ip: str
    mask: str
    network: str  # VBoxNetworkName: the DHCP server's --netname


def hostonlyifs(text: str) -> list[HostOnlyInterface]:
    out = []
    for block in blocks(text):
        name = block.get("Name", "")
        if not name:
            continue
        out.append(
            HostOnlyInterface(
                name=name,
                ip=block.get("IPAddress", ""),
                mask=block.get("NetworkMask", ""),
                network=block.get("VBoxNetworkName") or f"HostInterfaceNetworking-{name}",
            )
        )
    return out


@dataclass(frozen=True)
class DHCPServer:
    network: str
    ip: str
    mask: str
    lower: str
    upper: str
    enabled: bool
    fixed: dict[str, str] = field(default_factory=dict)  # MAC (12 hex digits, lower) -> IP


def dhcpservers(text: str) -> list[DHCPServer]:
    """5.2: `IP:`, `lowerIPAddress:`; 6.1 and 7.x: `Dhcpd IP:`, `LowerIPAddress:` and an
    indented "Individual Configs" section of `MAC xx:xx:...` entries with `Fixed Address:`."""
    servers: list[DHCPServer] = []
    fields: dict[str, str] = {}
    fixed: dict[str, str] = {}
    mac = ""

    def flush() -> None:
        if fields.get("networkname"):
            servers.append(
                DHCPServer(
                    network=fields["networkname"],
                    ip=fields.get("dhcpd ip") or fields.get("ip", ""),
                    mask=fields.get("networkmask", ""),
                    lower=fields.get("loweripaddress", ""),
                    upper=fields.get("upperipaddress", ""),
                    enabled=fields.get("enabled", "").lower() == "yes",
                    fixed=dict(fixed),
                )
            )
        fields.clear()
        fixed.clear()

    for line in text.splitlines():
        if not line.strip():
            continue
        stripped = line.strip()
        indented = line[:1].isspace()
        if not indented and stripped.lower().startswith("networkname:"):
            flush()
            mac = ""
        if indented:
            if stripped.startswith("MAC "):
                mac = stripped[4:].split()[0].replace(":", "").replace("-", "").lower()
            elif mac and stripped.lower().startswith("fixed address:"):
                fixed[mac] = stripped.split(":", 1)[1].strip()
            elif stripped.startswith(("VM ", "Group ")):
                mac = ""
            continue
        key, sep, value = stripped.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    flush()
    return servers


def created_interface(text: str) -> str:
    """The name in `Interface 'vboxnet0' was successfully created`."""
    m = re.search(r"Interface '([^']+)' was successfully created", text)
    return m.group(1) if m else ""


def created_vm_uuid(text: str) -> str:
    m = re.search(r"^UUID: ([0-9a-fA-F-]{36})$", text, re.MULTILINE)
    return m.group(1).lower() if m else ""
