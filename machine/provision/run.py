"""One provisioning pass: facts, hostname, engine install if missing, TLS files, daemon config.

Every step first looks at what is there and changes only what differs, so a second pass on a
provisioned host writes nothing and does not restart the engine (its containers keep running).
Waiting for the engine to answer over TLS is the caller's job (ops), from the client side.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from machine import engine
from machine.errors import ProvisionError
from machine.provision import families
from machine.provision.families import OPENRC, SYSTEMD, Family
from machine.provision.host import Remote, RootShell
from machine.provision.osrelease import OSRelease, parse
from machine.ssh import quote

_FACTS = r"""
echo @@os-release; cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
echo @@uid; id -u
echo @@hostname; cat /etc/hostname 2>/dev/null
echo @@dockerd; command -v dockerd 2>/dev/null || ls /usr/bin/dockerd /usr/sbin/dockerd 2>/dev/null
echo @@init
if [ -d /run/systemd/system ]; then echo systemd
elif command -v rc-service >/dev/null 2>&1; then echo openrc
else echo unknown; fi
echo @@sudo; command -v sudo 2>/dev/null
echo @@end
""".strip()


@dataclass(frozen=True)
class Facts:
    os: OSRelease
    uid: int
    hostname: str
    dockerd: str
    init: str
    has_sudo: bool


def parse_facts(text: str) -> Facts:
    sections: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("@@"):
            current = line[2:].strip()
            sections[current] = []
        elif current:
            sections[current].append(line)

    def first(name: str) -> str:
        lines = [x.strip() for x in sections.get(name, []) if x.strip()]
        return lines[0] if lines else ""

    uid = first("uid")
    return Facts(
        os=parse("\n".join(sections.get("os-release", []))),
        uid=int(uid) if uid.isdigit() else -1,
        hostname=first("hostname"),
        dockerd=first("dockerd"),
        init=first("init"),
        has_sudo=bool(first("sudo")),
    )


@dataclass(frozen=True)
class Plan:
    hostname: str
    engine: engine.EngineConfig
    install_url: str  # "" = the distribution's package
    ca_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes


@dataclass
class Outcome:
    family: str = ""
    installed_engine: bool = False
    changed_files: list[str] = field(default_factory=list)
    restarted: bool = False
    transcript: list[str] = field(default_factory=list)


Step = Callable[[str], None]  # progress: called with a docker-machine style message


def provision(remote: Remote, plan: Plan, step: Step = lambda message: None) -> Outcome:
    step("Detecting the provisioner...")
    facts = parse_facts(remote.run(f"sh -c {quote(_FACTS)}").stdout)
    if facts.uid < 0:
        raise ProvisionError("could not read the host's facts (is the login shell POSIX sh?)")
    if facts.uid != 0 and not facts.has_sudo:
        raise ProvisionError(
            "the SSH user is not root and sudo is not installed on the host",
            hint="Log in as root, or install sudo and allow the user passwordless sudo.",
        )
    family = families.detect(facts.os)
    step(f"Provisioning with {family.label(facts.os)}...")
    shell = RootShell(remote, is_root=facts.uid == 0)
    if facts.uid != 0:
        shell.check("true", "passwordless sudo (sudo -n true)")
    outcome = Outcome(family=family.label(facts.os), transcript=shell.transcript)

    _set_hostname(shell, facts, plan.hostname)
    dockerd = facts.dockerd
    if not dockerd:
        step("Installing Docker...")
        for command in family.install_commands(facts.os, plan.install_url):
            shell.check(command, "installing the Docker engine")
        dockerd = shell.check("command -v dockerd", "finding dockerd after install").stdout.strip()
        outcome.installed_engine = True

    step("Copying certs to the remote machine...")
    files = _desired_files(shell, family, facts, plan, dockerd)
    current = _remote_digests(shell, list(files))
    changed = {
        path: (data, mode)
        for path, (data, mode) in files.items()
        if current.get(path) != hashlib.sha256(data).hexdigest()
    }
    shell.put_all(changed)
    outcome.changed_files.extend(changed)

    step("Setting Docker configuration on the remote daemon...")
    outcome.restarted = _apply(shell, family, facts, bool(outcome.changed_files))
    return outcome


def _set_hostname(shell: RootShell, facts: Facts, name: str) -> None:
    if facts.hostname == name:
        return
    q = quote(name)
    shell.check(
        f"hostname {q} 2>/dev/null; echo {q} > /etc/hostname; "
        # keep `hostname` resolvable, the way Debian's installer writes it
        f"if grep -q '^127\\.0\\.1\\.1[[:space:]]' /etc/hosts; then "
        f"sed -i 's/^127\\.0\\.1\\.1[[:space:]].*/127.0.1.1 '{q}'/' /etc/hosts; "
        f"else echo '127.0.1.1 '{q} >> /etc/hosts; fi",
        "setting the hostname",
    )


def _desired_files(
    shell: RootShell, family: Family, facts: Facts, plan: Plan, dockerd: str
) -> dict[str, tuple[bytes, int]]:
    files: dict[str, tuple[bytes, int]] = {
        engine.REMOTE_CA: (plan.ca_pem, 0o644),
        engine.REMOTE_CERT: (plan.server_cert_pem, 0o644),
        engine.REMOTE_KEY: (plan.server_key_pem, 0o600),
    }
    init = facts.init if facts.init in (SYSTEMD, OPENRC) else family.init
    if init == SYSTEMD:
        unit = shell.run("systemctl cat docker.service 2>/dev/null").stdout
        vendor = engine.parse_vendor_exec_start(unit)
        args = vendor[1] if vendor else ""
        text = engine.systemd_dropin(plan.engine, dockerd, args)
        files[engine.SYSTEMD_DROPIN] = (text.encode(), 0o644)
    else:
        files[engine.OPENRC_CONF] = (engine.openrc_conf(plan.engine).encode(), 0o644)
    return files


def _remote_digests(shell: RootShell, file_paths: list[str]) -> dict[str, str]:
    listing = " ".join(quote(p) for p in file_paths)
    out = shell.run(f"sha256sum {listing} 2>/dev/null").stdout
    digests: dict[str, str] = {}
    for line in out.splitlines():
        digest, _, name = line.partition("  ")
        if name:
            digests[name.strip()] = digest.strip()
    return digests


def _apply(shell: RootShell, family: Family, facts: Facts, changed: bool) -> bool:
    """Reload and restart the engine when its config changed; else make sure it runs."""
    init = facts.init if facts.init in (SYSTEMD, OPENRC) else family.init
    if init == SYSTEMD:
        if changed:
            shell.check(
                "systemctl daemon-reload && systemctl enable docker.service >/dev/null 2>&1; "
                "systemctl reset-failed docker.service >/dev/null 2>&1; "
                "systemctl restart docker.service",
                "restarting the Docker engine",
            )
            return True
        shell.check(
            "systemctl is-active --quiet docker.service || "
            "{ systemctl reset-failed docker.service >/dev/null 2>&1; "
            "systemctl start docker.service; }",
            "starting the Docker engine",
        )
        return False
    if changed:
        shell.check(
            "rc-update add docker default >/dev/null 2>&1; rc-service docker restart",
            "restarting the Docker engine",
        )
        return True
    shell.check(
        "rc-service docker status >/dev/null 2>&1 || rc-service docker start",
        "starting the Docker engine",
    )
    return False


def upgrade_engine(remote: Remote, install_url: str, step: Step = lambda message: None) -> bool:
    """Upgrade the engine in place; restart it if its version changed. True when it did."""
    facts = parse_facts(remote.run(f"sh -c {quote(_FACTS)}").stdout)
    if not facts.dockerd:
        raise ProvisionError("the Docker engine is not installed; run `provision` first")
    family = families.detect(facts.os)
    shell = RootShell(remote, is_root=facts.uid == 0)
    before = shell.run("dockerd --version").stdout.strip()
    for command in family.upgrade_commands(facts.os, install_url):
        shell.check(command, "upgrading the Docker engine")
    after = shell.run("dockerd --version").stdout.strip()
    if before == after:
        step(f"Docker is already the newest version available ({after})")
        return False
    step("Restarting docker...")
    _apply(shell, family, facts, changed=True)
    return True


def engine_log_tail(shell: RootShell, init: str) -> str:
    """The engine's last log lines, for an error message when it does not come up."""
    if init == SYSTEMD:
        cmd = "journalctl -u docker.service -n 15 --no-pager -o cat 2>/dev/null"
    else:
        cmd = "tail -n 15 /var/log/docker.log 2>/dev/null"
    return shell.run(cmd).stdout.strip()


# A new ed25519 host key made on the host (its private half never leaves it); every other host
# key goes, the seeded one among them; sshd reloads them for new connections (this one stays).
_NEW_HOST_KEY = r"""
set -e
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
ssh-keygen -q -t ed25519 -N '' -C '' -f "$t/key"
rm -f /etc/ssh/ssh_host_*
install -m 0600 "$t/key" /etc/ssh/ssh_host_ed25519_key
install -m 0644 "$t/key.pub" /etc/ssh/ssh_host_ed25519_key.pub
systemctl reload ssh.service 2>/dev/null || systemctl reload sshd.service 2>/dev/null \
  || rc-service sshd reload 2>/dev/null || kill -HUP "$(cat /run/sshd.pid)"
cat /etc/ssh/ssh_host_ed25519_key.pub
""".strip()


def replace_host_key(remote: Remote) -> str:
    """Replace the host's SSH host keys with one it makes now; its public line.

    A seed (cloud-init user data, an ISO) stays readable after boot (EC2 serves user data to
    anyone on the instance and to anyone allowed DescribeInstanceAttribute), so the host key
    it carried must not stay the host's key after the first verified contact.
    """
    uid = remote.run("id -u").stdout.strip()
    shell = RootShell(remote, is_root=uid == "0")
    out = shell.check(_NEW_HOST_KEY, "replacing the seeded SSH host key").stdout
    lines = [line for line in out.splitlines() if line.startswith("ssh-ed25519 ")]
    if not lines:
        raise ProvisionError("the host did not show its new SSH host key")
    return lines[-1].strip()
