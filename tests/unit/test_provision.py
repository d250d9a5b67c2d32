"""Provisioning against a scripted host: the commands each family runs, and convergence."""

from __future__ import annotations

import hashlib
import re

import pytest

from machine import errors
from machine.docker import engine
from machine.provision import families
from machine.provision.osrelease import parse
from machine.provision.run import Plan, parse_facts, provision, seeded_files
from machine.testing import ScriptedRemote, UnexpectedCommand

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
UNIT = (
    "# /lib/systemd/system/docker.service\n[Service]\n"
    "ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock\n"
)
PLAN = Plan(
    hostname="web",
    engine=engine.EngineConfig(port=2376, driver_name="generic", labels=("a=b",)),
    install_url="",
    ca_pem=b"CA",
    server_cert_pem=b"CERT",
    server_key_pem=b"KEY",
)


def facts(
    os_release: str = DEBIAN,
    uid: int = 0,
    dockerd: str = "/usr/sbin/dockerd",
    hostname: str = "old",
) -> str:
    return (
        f"@@os-release\n{os_release}@@uid\n{uid}\n@@hostname\n{hostname}\n@@dockerd\n{dockerd}\n"
        "@@init\nsystemd\n@@sudo\n/usr/bin/sudo\n@@end\n"
    )


def debian_host(**kw: object) -> ScriptedRemote:
    remote = ScriptedRemote()
    remote.on(r"^sh -c .*@@os-release", facts(**kw))  # type: ignore[arg-type]
    remote.on(r"^systemctl cat docker.service", UNIT)
    remote.on(r"^set -e\nb=/var/lib/machine/backup")  # what will change is saved first
    return remote


def test_configure_only_when_engine_present() -> None:
    remote = debian_host()
    remote.on(r"^hostname web").on(r"^sha256sum ", "").on(r"^mkdir -p ")
    remote.on(r"^systemctl daemon-reload")
    outcome = provision(remote, PLAN)
    assert outcome.family == "debian"
    assert not outcome.installed_engine
    assert outcome.restarted
    assert not any("apt-get" in c for c in remote.commands)
    dropin = remote.files[engine.SYSTEMD_DROPIN][0].decode()
    assert "-H fd:// --containerd=/run/containerd/containerd.sock -H tcp://0.0.0.0:2376" in dropin
    assert remote.files[engine.REMOTE_KEY] == (b"KEY", 0o600)


def test_second_run_changes_nothing() -> None:
    first = debian_host(hostname="web")
    first.on(r"^sha256sum ", "").on(r"^mkdir -p ").on(r"^systemctl daemon-reload")
    provision(first, PLAN)
    sums = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {path}\n" for path, (data, _) in first.files.items()
    )
    second = debian_host(hostname="web")
    second.on(r"^sha256sum ", sums).on(r"^systemctl is-active --quiet docker.service")
    outcome = provision(second, PLAN)
    assert outcome.changed_files == []
    assert not outcome.restarted
    assert second.files == {}


def test_a_host_seeded_with_its_engine_files_is_left_as_it_is() -> None:
    """machine-os got the files in its seed and started the engine with them: the pass finds
    every file equal (the drop-in too, read back through `systemctl cat`) and restarts
    nothing, saves nothing."""
    unit_file = UNIT.split("\n", 1)[1] + "# see /usr/share/doc\n"
    seeded = seeded_files(PLAN, "/usr/sbin/dockerd", unit_file)
    assert set(seeded) == {
        engine.REMOTE_CA,
        engine.REMOTE_CERT,
        engine.REMOTE_KEY,
        engine.SYSTEMD_DROPIN,
    }
    assert seeded[engine.REMOTE_KEY] == (b"KEY", 0o600)
    sums = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {path}\n" for path, (data, _) in seeded.items()
    )
    shown = (  # what `systemctl cat` shows once the seed step installed the drop-in
        f"# /lib/systemd/system/docker.service\n{unit_file}\n"
        f"# {engine.SYSTEMD_DROPIN}\n{seeded[engine.SYSTEMD_DROPIN][0].decode()}"
    )
    host = ScriptedRemote()
    host.on(r"^sh -c .*@@os-release", facts(hostname="web"))
    host.on(r"^systemctl cat docker.service", shown)
    host.on(r"^sha256sum ", sums).on(r"^systemctl is-active --quiet docker.service")
    outcome = provision(host, PLAN)
    assert not outcome.restarted and not outcome.backed_up
    assert outcome.changed_files == [] and host.files == {}


def test_installs_from_distribution_packages_when_missing() -> None:
    remote = debian_host(dockerd="")
    remote.on(r"cloud-init").on(r"apt-get .* update").on(r"apt-get .* install -y .*docker\.io")
    remote.on(r"^command -v dockerd", "/usr/sbin/dockerd\n")
    remote.on(r"^hostname web").on(r"^sha256sum ", "").on(r"^mkdir -p ")
    remote.on(r"^systemctl daemon-reload")
    outcome = provision(remote, PLAN)
    assert outcome.installed_engine
    assert any("DPkg::Lock::Timeout" in c for c in remote.commands)


def test_install_script_url_is_quoted() -> None:
    cmds = families.FAMILIES[0].install_commands(parse(DEBIAN), "https://x/y?a=1;reboot")
    assert "'https://x/y?a=1;reboot'" in cmds[2]


def test_non_root_uses_sudo_and_stages_files() -> None:
    remote = ScriptedRemote()
    remote.on(r"^sh -c .*@@os-release", facts(uid=1000))
    remote.on(r"^sudo -n sh -c true$")
    remote.on(r"^sudo -n sh -c 'systemctl cat docker.service", UNIT)
    remote.on(r"^mktemp -d$", "/tmp/tmp.abc\n")
    remote.on(r"^sudo -n sh -c ").on(r"^rm -rf /tmp/tmp.abc$")
    provision(remote, PLAN)
    assert all(path.startswith("/tmp/tmp.abc/") for path in remote.files)
    assert len(remote.files) == 4  # CA, server cert and key, the daemon's drop-in
    # one temp folder, one root command installs them all, one clean-up
    assert remote.commands.count("mktemp -d") == 1
    installs = [c for c in remote.commands if "install -m" in c]
    assert len(installs) == 1
    assert re.search(
        r"install -m 0600 -o root -g root /tmp/tmp\.abc/\d-server-key\.pem", installs[0]
    )
    assert "rm -rf /tmp/tmp.abc" in remote.commands


def test_hostname_is_quoted() -> None:
    remote = debian_host()
    remote.on(r"^hostname").on(r"^sha256sum ", "").on(r"^mkdir -p ").on(r"^systemctl")
    plan = Plan(**{**PLAN.__dict__, "hostname": "a.b-c"})
    provision(remote, plan)
    assert any(
        c.startswith("hostname a.b-c 2>/dev/null; echo a.b-c > /etc/hostname")
        for c in remote.commands
    )


@pytest.mark.parametrize(
    ("os_release", "family", "install"),
    [
        ("ID=ubuntu\nID_LIKE=debian\nVERSION_ID=24.04\n", "debian", "apt-get"),
        ("ID=fedora\nVERSION_ID=40\n", "redhat", "dnf install -y moby-engine"),
        ('ID=amzn\nID_LIKE="centos rhel fedora"\n', "redhat", "yum install -y docker"),
        ('ID=opensuse-leap\nID_LIKE="suse opensuse"\n', "SUSE", "zypper --non-interactive"),
        ("ID=arch\n", "arch", "pacman -Sy --noconfirm --needed docker"),
        ("ID=alpine\n", "alpine", "apk add --no-cache docker"),
        ('ID=linuxmint\nID_LIKE="ubuntu debian"\n', "debian", "apt-get"),
    ],
)
def test_families_build_their_install_sequences(os_release: str, family: str, install: str) -> None:
    osr = parse(os_release)
    fam = families.detect(osr)
    assert fam.name == family
    commands = fam.install_commands(osr, "")
    assert commands[0] == families.WAIT_FOR_CLOUD_INIT
    assert any(install in c for c in commands)


def test_rhel_without_package_asks_for_install_url() -> None:
    osr = parse('ID="rhel"\nID_LIKE="fedora"\nPRETTY_NAME="Red Hat Enterprise Linux 9"\n')
    with pytest.raises(errors.UnsupportedOS) as info:
        families.detect(osr).install_commands(osr, "")
    assert "--engine-install-url" in info.value.hint


def test_alpine_gets_an_openrc_conf() -> None:
    remote = ScriptedRemote()
    alpine_facts = facts(os_release="ID=alpine\n").replace("systemd", "openrc")
    remote.on(r"^sh -c .*@@os-release", alpine_facts)
    remote.on(r"^hostname web").on(r"^sha256sum ", "").on(r"^mkdir -p ")
    remote.on(r"^rc-update add docker default").on(r"^set -e\nb=/var/lib/machine/backup")
    provision(remote, PLAN)
    assert engine.OPENRC_CONF in remote.files


def test_unknown_os_is_refused_clearly() -> None:
    remote = ScriptedRemote().on(r"^sh -c", facts(os_release="ID=plan9\n"))
    with pytest.raises(errors.UnsupportedOS):
        provision(remote, PLAN)


def test_scripted_remote_fails_loudly() -> None:
    with pytest.raises(UnexpectedCommand):
        ScriptedRemote().run("rm -rf /")


def test_parse_facts() -> None:
    f = parse_facts(facts(uid=0))
    assert (f.os.id, f.uid, f.dockerd, f.init, f.has_sudo) == (
        "debian",
        0,
        "/usr/sbin/dockerd",
        "systemd",
        True,
    )


def test_upgrade_restarts_only_when_the_version_changed() -> None:
    from machine.provision.run import upgrade_engine

    remote = debian_host()
    remote.on(r"^dockerd --version", "Docker version 20.10.24\n", times=1)
    remote.on(r"^dockerd --version", "Docker version 20.10.25\n")
    remote.on(r"cloud-init").on(r"apt-get .* update").on(r"--only-upgrade docker\.io")
    remote.on(r"^systemctl daemon-reload")
    assert upgrade_engine(remote, "") is True
    assert any("systemctl restart docker.service" in c for c in remote.commands)

    same = debian_host()
    same.on(r"^dockerd --version", "Docker version 20.10.24\n")
    same.on(r"cloud-init").on(r"apt-get .* update").on(r"--only-upgrade docker\.io")
    messages: list[str] = []
    assert upgrade_engine(same, "", messages.append) is False
    assert not any("restart" in c for c in same.commands)
    assert "already the newest version" in messages[0]
