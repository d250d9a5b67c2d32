"""OS families: how each one installs the engine and runs services, as data plus command builders.

Detection walks ID, then each ID_LIKE entry, and takes the first family that claims it, so the
result never depends on dictionary order (docker-machine iterated a Go map: random order).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from machine.errors import UnsupportedOS
from machine.provision.osrelease import OSRelease
from machine.remote.ssh import quote

SYSTEMD = "systemd"
OPENRC = "openrc"

# cloud-init may still be installing packages on a fresh cloud host; its exit code 2 means
# "done, with recoverable errors". No English output is parsed.
WAIT_FOR_CLOUD_INIT = (
    "if command -v cloud-init >/dev/null 2>&1; then "
    "cloud-init status --wait >/dev/null 2>&1; rc=$?; [ $rc -eq 0 ] || [ $rc -eq 2 ]; fi"
)


@dataclass(frozen=True)
class Family:
    name: str  # docker-machine's provisioner name, shown as "Provisioning with NAME..."
    ids: tuple[str, ...]  # os-release IDs this family claims
    init: str
    install_packages: Callable[[OSRelease], list[str]]
    package_install: str  # the package manager's install command, for what the script needs

    def label(self, osr: OSRelease) -> str:
        """docker-machine's provisioner name for this OS ("Provisioning with LABEL...")."""
        return _LABELS.get(osr.id, self.name)

    def upgrade_commands(self, osr: OSRelease, install_url: str) -> list[str]:
        """Commands (run as root) that upgrade an installed engine in place."""
        if install_url:
            return [WAIT_FOR_CLOUD_INIT, *self._from_script(install_url)]
        return [WAIT_FOR_CLOUD_INIT, *_UPGRADES[self.name](osr)]

    def install_commands(self, osr: OSRelease, install_url: str) -> list[str]:
        """Commands (run as root) that install the engine and leave it enabled."""
        if install_url:
            return [WAIT_FOR_CLOUD_INIT, *self._from_script(install_url)]
        return [WAIT_FOR_CLOUD_INIT, *self.install_packages(osr)]

    def _from_script(self, url: str) -> list[str]:
        # A private temporary file (mktemp), never a fixed /tmp name another user could plant.
        # The URL can never be read as an option (curl --url, wget --): it is checked to be
        # http(s) before create too. curl is installed only when neither tool is there (the
        # braces keep `a || b || c && d` from installing it every time).
        q = quote(url)
        return [
            "command -v curl >/dev/null 2>&1 || command -v wget >/dev/null 2>&1 || "
            f"{{ {self.package_install} curl; }}",
            "f=$(mktemp) && { if command -v curl >/dev/null 2>&1; then curl -fsSL "
            f'-o "$f" --url {q}; else wget -qO "$f" -- {q}; fi; }} && sh "$f"; rc=$?; '
            'rm -f "$f"; exit $rc',
        ]


# apt waits for the dpkg lock itself (no "Could not get lock" text matching, any locale).
_APT = "DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q"


def _debian(osr: OSRelease) -> list[str]:
    return [f"{_APT} update", f"{_APT} install -y --no-install-recommends docker.io"]


def _redhat(osr: OSRelease) -> list[str]:
    if osr.id == "fedora":
        return ["dnf install -y moby-engine", "systemctl enable docker"]
    if osr.id == "amzn":
        return ["yum install -y docker", "systemctl enable docker"]
    raise UnsupportedOS(
        f"{osr.pretty_name or osr.id} has no Docker engine package in its own repositories",
        hint="Create it with --engine-install-url https://get.docker.com (or your mirror of "
        "the install script).",
    )


def _suse(osr: OSRelease) -> list[str]:
    return ["zypper --non-interactive install docker", "systemctl enable docker"]


def _arch(osr: OSRelease) -> list[str]:
    return ["pacman -Sy --noconfirm --needed docker", "systemctl enable docker"]


def _alpine(osr: OSRelease) -> list[str]:
    return ["apk add --no-cache docker", "rc-update add docker default"]


def _redhat_upgrade(osr: OSRelease) -> list[str]:
    if osr.id == "fedora":
        return ["dnf upgrade -y moby-engine"]
    return ["yum update -y docker"]


_UPGRADES: dict[str, Callable[[OSRelease], list[str]]] = {
    "debian": lambda osr: [
        f"{_APT} update",
        f"{_APT} install -y --only-upgrade docker.io",
    ],
    "redhat": _redhat_upgrade,
    "SUSE": lambda osr: ["zypper --non-interactive update docker"],
    "arch": lambda osr: ["pacman -Sy --noconfirm --needed docker"],
    "alpine": lambda osr: ["apk upgrade --no-cache docker"],
}

# Where docker-machine named the provisioner after the distribution rather than the family.
_LABELS = {
    "ubuntu": "ubuntu(systemd)",
    "centos": "centos",
    "fedora": "fedora",
    "ol": "ol",
    "amzn": "amzn",
    "rocky": "rocky",
}

FAMILIES: tuple[Family, ...] = (
    Family(
        "debian",
        ("debian", "ubuntu", "raspbian", "linuxmint", "pop"),
        SYSTEMD,
        _debian,
        f"{_APT} update && {_APT} install -y --no-install-recommends",
    ),
    Family(
        "redhat",
        ("rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn"),
        SYSTEMD,
        _redhat,
        "yum install -y",
    ),
    Family(
        "SUSE",
        ("suse", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "sles", "sled"),
        SYSTEMD,
        _suse,
        "zypper --non-interactive install",
    ),
    Family(
        "arch",
        ("arch", "manjaro", "endeavouros"),
        SYSTEMD,
        _arch,
        "pacman -Sy --noconfirm --needed",
    ),
    Family("alpine", ("alpine",), OPENRC, _alpine, "apk add --no-cache"),
)


def detect(osr: OSRelease) -> Family:
    for candidate in osr.ids:
        for family in FAMILIES:
            if candidate in family.ids:
                return family
    raise UnsupportedOS(
        f"Unsupported operating system: {osr.pretty_name or osr.id or 'no /etc/os-release'}",
        hint="Supported: Debian/Ubuntu, Fedora/RHEL/CentOS/Rocky/Alma/Oracle/Amazon Linux, "
        "SUSE, Arch, Alpine.",
    )
