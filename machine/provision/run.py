"""One provisioning pass: facts, hostname, engine install if missing, TLS files, daemon config.

Every step first looks at what is there and changes only what differs, so a second pass on a
provisioned host writes nothing and does not restart the engine (its containers keep running).
Waiting for the engine to answer over TLS is the caller's job (ops), from the client side.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from machine.docker import engine
from machine.errors import ProvisionError
from machine.provision import families
from machine.provision.families import OPENRC, SYSTEMD, Family
from machine.provision.host import Remote, RootShell
from machine.provision.osrelease import OSRelease, parse
from machine.remote.ssh import quote

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
echo @@unfinished; test -e /var/lib/machine/backup/complete && echo yes
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
    complete: bool = True  # the output ended with its end marker
    unfinished: bool = False  # an earlier pass saved the settings and never finished


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
        complete="end" in sections,
        unfinished=first("unfinished") == "yes",
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
    backed_up: bool = False  # the host's settings were saved before the first change
    installed_engine: bool = False
    changed_files: list[str] = field(default_factory=list)
    restarted: bool = False
    transcript: list[str] = field(default_factory=list)


Step = Callable[[str], None]  # progress: called with a docker-machine style message


def provision(
    remote: Remote,
    plan: Plan,
    step: Step = lambda message: None,
    backed_up: Callable[[], None] = lambda: None,
) -> Outcome:
    """One pass. Before its first change, what it will replace on the host is saved there
    (see BACKUP) and `backed_up` is called; the caller discards the copy once the engine
    answers, or puts it back (`restore_host`) when anything failed."""
    step("Detecting the provisioner...")
    facts = parse_facts(remote.run(f"sh -c {quote(_FACTS)}").stdout)
    if facts.uid < 0 or not facts.complete:
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

    dockerd = facts.dockerd
    # An unfinished earlier pass may have written the files without restarting the engine:
    # then equal files prove nothing, and the pass goes all the way.
    if dockerd and facts.hostname == plan.hostname and not facts.unfinished:
        files = _desired_files(shell, family, facts, plan, dockerd)
        if not _changed(files, _remote_digests(shell, list(files))):
            step("Setting Docker configuration on the remote daemon...")
            _apply(shell, family, facts, changed=False)  # all is as it should be
            return outcome
    shell.check(_BACKUP, "saving the host's settings before changing them")
    outcome.backed_up = True
    backed_up()

    _set_hostname(shell, facts, plan.hostname)
    if not dockerd:
        step("Installing Docker...")
        for command in family.install_commands(facts.os, plan.install_url):
            shell.check(command, "installing the Docker engine")
        dockerd = shell.check("command -v dockerd", "finding dockerd after install").stdout.strip()
        outcome.installed_engine = True

    step("Copying certs to the remote machine...")
    files = _desired_files(shell, family, facts, plan, dockerd)
    changed = _changed(files, _remote_digests(shell, list(files)))
    shell.put_all(changed)
    outcome.changed_files.extend(changed)

    step("Setting Docker configuration on the remote daemon...")
    outcome.restarted = _apply(
        shell, family, facts, bool(outcome.changed_files) or facts.unfinished
    )
    return outcome


def _changed(
    files: dict[str, tuple[bytes, int]], current: dict[str, str]
) -> dict[str, tuple[bytes, int]]:
    return {
        path: (data, mode)
        for path, (data, mode) in files.items()
        if current.get(path) != hashlib.sha256(data).hexdigest()
    }


# --- what provisioning replaces, saved on the host and put back -----------------------------

BACKUP = "/var/lib/machine/backup"
# Everything a provisioning pass may change. The copy is taken once, before the first change,
# and kept until the pass succeeds: a pass interrupted (even by SIGKILL) and then retried
# keeps the settings from before the first one, which `restore_host` puts back.
SAVED = ("/etc/hostname", "/etc/hosts", engine.REMOTE_CA, engine.REMOTE_CERT, engine.REMOTE_KEY,
         engine.SYSTEMD_DROPIN, engine.OPENRC_CONF, "/etc/docker/daemon.json")  # fmt: skip

_BACKUP = f"""
set -e
b={BACKUP}
[ -e "$b/complete" ] && exit 0
rm -rf "$b.new"
mkdir -p "$b.new/files"
chmod 700 "$b.new"
for f in {" ".join(SAVED)}; do
  if [ -e "$f" ]; then mkdir -p "$b.new/files${{f%/*}}"; cp -a "$f" "$b.new/files$f"
  else echo "$f" >> "$b.new/absent"; fi
done
hostname > "$b.new/hostname"
if command -v dockerd >/dev/null 2>&1; then echo yes > "$b.new/engine-installed"; fi
if [ -d /run/systemd/system ]; then
  if systemctl is-active --quiet docker.service; then echo yes > "$b.new/engine-running"; fi
  if systemctl is-enabled --quiet docker.service 2>/dev/null; then
    echo yes > "$b.new/engine-enabled"; fi
elif command -v rc-service >/dev/null 2>&1; then
  if rc-service docker status >/dev/null 2>&1; then echo yes > "$b.new/engine-running"; fi
  if rc-update show default 2>/dev/null | grep -qw docker; then
    echo yes > "$b.new/engine-enabled"; fi
fi
touch "$b.new/complete"
rm -rf "$b"
mv "$b.new" "$b"
""".strip()

_RESTORE = f"""
set -e
b={BACKUP}
[ -e "$b/complete" ] || {{ echo nothing; exit 0; }}
cp -a "$b/files/." /
if [ -e "$b/absent" ]; then while read -r f; do rm -f "$f"; done < "$b/absent"; fi
hostname "$(cat "$b/hostname")" 2>/dev/null || true
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  if [ -e "$b/engine-running" ]; then
    systemctl reset-failed docker.service >/dev/null 2>&1 || true
    systemctl restart docker.service
  else
    systemctl stop docker.service docker.socket >/dev/null 2>&1 || true
  fi
  if [ -e "$b/engine-installed" ] && [ ! -e "$b/engine-enabled" ]; then
    systemctl disable docker.service >/dev/null 2>&1 || true
  elif [ ! -e "$b/engine-installed" ]; then
    systemctl disable docker.service docker.socket >/dev/null 2>&1 || true
  fi
elif command -v rc-service >/dev/null 2>&1; then
  if [ -e "$b/engine-running" ]; then rc-service docker restart; else
    rc-service docker stop >/dev/null 2>&1 || true; fi
  [ -e "$b/engine-enabled" ] || rc-update del docker default >/dev/null 2>&1 || true
fi
[ -e "$b/engine-installed" ] || echo engine-was-installed
rm -rf "$b"
echo restored
""".strip()


@dataclass(frozen=True)
class Restored:
    done: bool  # a saved copy was there and is back in place
    engine_stays: bool  # this run installed the engine: its package stays (stopped)


def restore_host(remote: Remote) -> Restored:
    """Put back what the interrupted or failed provisioning pass replaced (settings, host
    name, the engine running or not, as it was); nothing when no copy is there."""
    uid = remote.run("id -u").stdout.strip()
    shell = RootShell(remote, is_root=uid == "0")
    out = shell.check(_RESTORE, "putting the host's settings back").stdout.split()
    return Restored(done="restored" in out, engine_stays="engine-was-installed" in out)


def discard_backup(remote: Remote) -> None:
    """The pass succeeded: the saved copy is no longer needed."""
    uid = remote.run("id -u").stdout.strip()
    RootShell(remote, is_root=uid == "0").check(f"rm -rf {BACKUP}", "removing the saved copy")


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
    init = facts.init if facts.init in (SYSTEMD, OPENRC) else family.init
    args = ""
    if init == SYSTEMD:
        unit = shell.run("systemctl cat docker.service 2>/dev/null").stdout
        vendor = engine.parse_vendor_exec_start(unit)
        args = vendor[1] if vendor else ""
    return engine_files(plan, init, dockerd, args)


def seeded_files(plan: Plan, dockerd: str, unit_file: str) -> dict[str, tuple[bytes, int]]:
    """The engine's files for a systemd image that ships dockerd and `unit_file` (its
    docker.service), exactly as a pass on the booted image will want them: a create seeds
    these (BootImage.dockerd), the pass then finds every file equal and leaves the engine,
    started with TLS at first boot, running."""
    # read as the pass reads it: `systemctl cat` shows the file under a "# /path" line
    vendor = engine.parse_vendor_exec_start("# /docker.service\n" + unit_file)
    return engine_files(plan, SYSTEMD, dockerd, vendor[1] if vendor else "")


def engine_files(
    plan: Plan, init: str, dockerd: str, vendor_args: str
) -> dict[str, tuple[bytes, int]]:
    """What a provisioned host holds for its engine (path -> content, mode)."""
    files: dict[str, tuple[bytes, int]] = {
        engine.REMOTE_CA: (plan.ca_pem, 0o644),
        engine.REMOTE_CERT: (plan.server_cert_pem, 0o644),
        engine.REMOTE_KEY: (plan.server_key_pem, 0o600),
    }
    if init == SYSTEMD:
        text = engine.systemd_dropin(plan.engine, dockerd, vendor_args)
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
