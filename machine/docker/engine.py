"""The Docker daemon's configuration as data, and the files that carry it (pure text builders).

The daemon keeps the distribution's own start command (its `-H fd://` socket activation, its
`--containerd=` and `$DOCKER_OPTS`) and gets our flags appended: a TLS listener, labels,
registries, storage driver, arbitrary `--engine-opt`s. Values are quoted for systemd (or for the
OpenRC conf file), so a label like `x=$(touch /pwned)` reaches dockerd as literal text.
"""

from __future__ import annotations

import re

from machine.frozen import frozen

REMOTE_DIR = "/etc/docker"
REMOTE_CA = f"{REMOTE_DIR}/ca.pem"
REMOTE_CERT = f"{REMOTE_DIR}/server.pem"
REMOTE_KEY = f"{REMOTE_DIR}/server-key.pem"
SYSTEMD_DROPIN_DIR = "/etc/systemd/system/docker.service.d"
SYSTEMD_DROPIN = f"{SYSTEMD_DROPIN_DIR}/10-machine.conf"
OPENRC_CONF = "/etc/conf.d/docker"


@frozen
class EngineConfig:
    port: int
    driver_name: str
    labels: tuple[str, ...] = ()
    insecure_registries: tuple[str, ...] = ()
    registry_mirrors: tuple[str, ...] = ()
    storage_driver: str = ""
    arbitrary_flags: tuple[str, ...] = ()  # "k=v" or "k", from --engine-opt
    env: tuple[str, ...] = ()  # "K=V", from --engine-env
    log_level: str = ""
    data_root: str = ""
    ipv6: bool = False
    selinux: bool = False

    def flags(self) -> list[str]:
        """The dockerd arguments we add, one list item per argv word."""
        argv = [
            "-H",
            f"tcp://0.0.0.0:{self.port}",
            "--tlsverify",
            "--tlscacert",
            REMOTE_CA,
            "--tlscert",
            REMOTE_CERT,
            "--tlskey",
            REMOTE_KEY,
        ]
        if self.storage_driver:
            argv += ["--storage-driver", self.storage_driver]
        for label in (*self.labels, f"provider={self.driver_name}"):
            argv += ["--label", label]
        for reg in self.insecure_registries:
            argv += ["--insecure-registry", reg]
        for mirror in self.registry_mirrors:
            argv += ["--registry-mirror", mirror]
        if self.log_level:
            argv.append(f"--log-level={self.log_level}")
        if self.data_root:
            argv.append(f"--data-root={self.data_root}")
        if self.ipv6:
            argv.append("--ipv6")
        if self.selinux:
            argv.append("--selinux-enabled")
        argv += [f"--{opt}" for opt in self.arbitrary_flags]
        return argv


# --- systemd ---------------------------------------------------------------------------------


def systemd_quote(word: str, expands_variables: bool = True) -> str:
    """Quote one word for a unit file: an ExecStart= argument (systemd.service(5): `$` expands
    variables there, so it is doubled) or, with `expands_variables=False`, an Environment=
    assignment (where `$` is literal and `$$` would stay two). `%` is a specifier in both."""
    word = word.replace("%", "%%")
    if expands_variables:
        word = word.replace("$", "$$")
    if word and not any(c in word for c in " \t\n\"'\\;"):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def parse_vendor_exec_start(unit_text: str) -> tuple[str, str] | None:
    """(dockerd path, the raw rest) of the ExecStart in the first file `systemctl cat` shows.

    Drop-ins (ours included) come after the first file, so they never feed back into the base.
    """
    section = unit_text
    marker = "\n# /"
    first = section.find("# /")
    if first >= 0:
        nxt = section.find(marker, first + 1)
        section = section[first : nxt if nxt >= 0 else len(section)]
    value = ""
    for raw in _logical_lines(section):
        line = raw.strip()
        if line.startswith("ExecStart="):
            value = line[len("ExecStart=") :].strip()
    if not value:
        return None
    value = value.lstrip("-@:+!")  # systemd's command prefixes
    path, _, rest = value.partition(" ")
    return path, rest.strip()


def _logical_lines(text: str) -> list[str]:
    out: list[str] = []
    buf = ""
    for line in text.splitlines():
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        out.append(buf + line)
        buf = ""
    if buf:
        out.append(buf)
    return out


def systemd_dropin(config: EngineConfig, dockerd: str, vendor_args: str) -> str:
    """The drop-in that restarts dockerd with the distribution's arguments plus ours."""
    base = (
        vendor_args
        if "-H" in vendor_args.split() or "--host" in vendor_args
        else ("-H unix:///var/run/docker.sock " + vendor_args).strip()
    )
    ours = " ".join(systemd_quote(w) for w in config.flags())
    lines = [
        "# Written by machine; `machine provision` rewrites it.",
        "[Service]",
        "ExecStart=",
        f"ExecStart={systemd_quote(dockerd)} {base} {ours}".replace("  ", " "),
    ]
    lines += [f"Environment={systemd_quote(e, expands_variables=False)}" for e in config.env]
    return "\n".join(lines) + "\n"


# --- OpenRC ----------------------------------------------------------------------------------


def openrc_conf(config: EngineConfig) -> str:
    """/etc/conf.d/docker for Alpine's OpenRC service (sourced by sh: shell quoting)."""
    import shlex

    opts = " ".join(shlex.quote(w) for w in ["-H", "unix:///var/run/docker.sock", *config.flags()])
    lines = [
        "# Written by machine; `machine provision` rewrites it.",
        f"DOCKER_OPTS={shlex.quote(opts)}",
    ]
    for entry in config.env:
        key, _, value = entry.partition("=")
        if key.isidentifier():
            lines.append(f"export {key}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"


# --- checks of what the user asks for, before anything touches a host --------------------

# compiled on use (re caches them): a create with no such option compiles none
_LABEL_KEY = r"[A-Za-z0-9][A-Za-z0-9._/-]*"
_ENV_KEY = r"[A-Za-z_][A-Za-z0-9_]*"
_FLAG_NAME = r"[a-z0-9][a-z0-9-]*"
_DRIVER_NAME = r"[a-z0-9][a-z0-9_-]*"
_URL = r"https?://[A-Za-z0-9.\[\]:_-]+(/[^\s]*)?"


def _printable(value: str) -> bool:
    return value.isprintable()


def option_problems(config: EngineConfig, install_url: str = "") -> list[str]:
    """Why each `--engine-*` value cannot work, found without the host (dockerd would refuse
    them at start, after the host was already changed). Empty when all are fine."""
    out: list[str] = []
    storage_driver = config.storage_driver
    for label in config.labels:
        key, eq, value = label.partition("=")
        if not eq or not re.fullmatch(_LABEL_KEY, key) or not _printable(value):
            out.append(f"--engine-label {label!r}: must be KEY=VALUE (one line)")
    for entry in config.env:
        key, eq, value = entry.partition("=")
        if not eq or not re.fullmatch(_ENV_KEY, key) or not _printable(value):
            out.append(f"--engine-env {entry!r}: must be NAME=VALUE (one line)")
    for flag in config.arbitrary_flags:
        name, _, value = flag.partition("=")
        if not re.fullmatch(_FLAG_NAME, name) or not _printable(value):
            out.append(f"--engine-opt {flag!r}: must be flag=value, the flag without dashes")
    if storage_driver and not (
        len(storage_driver) <= 64 and re.fullmatch(_DRIVER_NAME, storage_driver)
    ):
        out.append(f"--engine-storage-driver {storage_driver!r} is not a storage driver name")
    for mirror in config.registry_mirrors:
        if not re.fullmatch(_URL, mirror):
            out.append(f"--engine-registry-mirror {mirror!r}: give an http(s):// URL")
    if install_url and not re.fullmatch(_URL, install_url):
        out.append(f"--engine-install-url {install_url!r}: give an http(s):// URL")
    return out
