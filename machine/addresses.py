"""What an SSH user, a host and a port may be, wherever they come from (a flag, a record).

These values end up as arguments of ssh, scp, rsync and sshfs and in generated ssh_config
files: a user like `-oProxyCommand=...` or a host with a newline must be refused, never
passed on. Pure checks; each returns a reason, or "" when the value is fine.
"""

from __future__ import annotations

import ipaddress
import math
import re

_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\$?")
_HOSTNAME = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?"
)


def shown(value: object) -> str:
    """`value` for a message: quoted, escaped, and short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def ssh_user_problem(user: str) -> str:
    if _USER.fullmatch(user):
        return ""
    return (
        f"{shown(user)} is not a user name (letters, digits, '_', '.', '-'; not starting with '-' "
        "or '.')"
    )


def host_problem(host: str) -> str:
    """An IP address (v4, or v6 without brackets) or a DNS name."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0] if ":" in host else host)
    except ValueError:
        pass
    else:
        if "%" not in host or re.fullmatch(r"[^%]+%[A-Za-z0-9_.-]+", host):
            return ""
    labels = host.rstrip(".").split(".")
    if all(label.isdigit() for label in labels):
        pass  # looks like an IPv4 address, and is not one (999.1.1.1)
    elif _HOSTNAME.fullmatch(host):
        return ""
    return f"{shown(host)} is not an IP address or a host name"


def port_problem(port: object, allow_unset: bool = False) -> str:
    is_int = isinstance(port, int) and not isinstance(port, bool)
    if is_int and (0 < port < 65536 or (allow_unset and port == 0)):  # type: ignore[operator]
        return ""
    return f"{shown(port)} is not a port number (1-65535)"


def san_problem(san: str) -> str:
    """A --tls-san: an IP address or a DNS name (a leading `*.` wildcard allowed)."""
    name = san[2:] if san.startswith("*.") else san
    if name and not host_problem(name) and "%" not in name:
        return ""
    return f"{shown(san)} is not an IP address or a DNS name"


MAX_SECONDS = 86400.0  # a day: a longer wait is a typo (or `inf`), not a wait


def seconds_problem(seconds: float) -> str:
    """A timeout: a real number of seconds above 0 and up to a day (not nan, inf, -1)."""
    if math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS:
        return ""
    return f"must be a number of seconds above 0 and up to {MAX_SECONDS:.0f}, not {seconds}"


def registry_problem(registry: str) -> str:
    """An insecure registry as dockerd takes it: HOST[:PORT] ([IPv6]:PORT) or a CIDR."""
    try:
        ipaddress.ip_network(registry, strict=False)
        return ""
    except ValueError:
        pass
    host, port = registry, ""
    if registry.startswith("["):
        host, _, rest = registry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else rest
    elif registry.count(":") == 1:
        host, port = registry.split(":")
    if not host_problem(host) and (not port or (port.isdigit() and 0 < int(port) < 65536)):
        return ""
    return f"{shown(registry)} is not HOST[:PORT] or a CIDR"
