"""Host-key pinning fails closed, ssh and scp say why they refuse, `machine ssh` passes its
options and `--` to ssh as docker-machine did, and a store path full of characters shells and
OpenSSH act on works with ssh, scp and env. Real test hosts (systemd-nspawn, sshd, dockerd)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.test_generic import _create
from tests.machinecli import CLI

Hosts = Any

DROPIN = "/etc/systemd/system/docker.service.d/10-machine.conf"


def test_a_pin_file_without_a_usable_key_is_refused_and_a_changed_key_explained(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str], tmp_path: Path
) -> None:
    host = host_factory("docker")
    _create(cli, "pinned", host, ssh_key[0])
    pin = cli.store / "machines/pinned/known_hosts"
    good = pin.read_text()
    before = host.exec(f"sha256sum {DROPIN}").stdout

    broken = {
        "empty": "",
        "garbled": "pinned ssh-ed25519 AAAA%%%notbase64\n",
        "another name": good.replace("pinned ", "other ", 1),
        "comment only": "# pinned ssh-ed25519 AAAAC3Nza\n",
    }
    for what, text in broken.items():
        pin.write_text(text)
        for argv in (
            ["provision", "pinned"],
            ["ssh", "pinned", "true"],
            ["scp", "pinned:/etc/hostname", str(tmp_path / "h")],
            ["regenerate-certs", "-f", "pinned"],
        ):
            result = cli(*argv, check=False)
            assert result.returncode == 1, (what, argv, result)
            assert "holds no valid key" in result.stderr, (what, argv, result.stderr)
            assert f"delete {pin}" in result.stderr, (what, argv)
        assert pin.read_text() == text, what  # never re-pinned behind the user's back
    assert host.exec(f"sha256sum {DROPIN}").stdout == before  # nothing changed on the host
    assert not (tmp_path / "h").exists()

    pin.write_text(good)
    assert cli("ssh", "pinned", "hostname").stdout.strip() == "pinned"

    # the host gets new keys: every command refuses and says why (ssh no longer exits 255
    # without a word)
    host.exec("rm -f /etc/ssh/ssh_host_* && ssh-keygen -A -q && systemctl restart ssh")
    host.wait_port(22, 10)
    for argv in (
        ["ssh", "pinned", "true"],
        ["ssh", "pinned"],
        ["scp", "pinned:/etc/hostname", str(tmp_path / "h")],
        ["scp", "-d", "pinned:/etc/hostname", str(tmp_path / "h")],
        ["provision", "pinned"],
    ):
        result = cli(*argv, check=False)
        assert result.returncode != 0, (argv, result)
        assert "does not match the one pinned" in result.stderr, (argv, result.stderr)
        assert str(pin) in result.stderr
    assert host.exec(f"sha256sum {DROPIN}").stdout == before

    # re-pinning on purpose, as the message says
    pin.unlink()
    cli("provision", "pinned")
    assert cli("ssh", "pinned", "hostname").stdout.strip() == "pinned"


def test_ssh_options_and_double_dash_go_to_ssh(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str]
) -> None:
    host = host_factory("docker")
    _create(cli, "opts", host, ssh_key[0])
    version = cli("ssh", "opts", "--", "sudo", "docker", "version", "--format", "{{.Server.Os}}")
    assert version.stdout.strip() == "linux", version
    assert cli("ssh", "opts", "-C", "echo", "foo").stdout == "foo\n"
    assert cli("ssh", "opts", "-A", "--", "echo", "--", "x").stdout == "-- x\n"
    assert cli("ssh", "opts", "-o", "ServerAliveInterval=5", "uname", "-s").stdout == "Linux\n"
    # the remote command's exit code is passed through
    assert cli("ssh", "opts", "exit", "7", check=False).returncode == 7
    # a word that is not an option starts the command, and the rest is its arguments
    assert cli("ssh", "opts", "printf", "%s,", "-a", "-b").stdout == "-a,-b,"
    result = cli("ssh", "-oProxyCommand=false", "opts", check=False)
    assert result.returncode == 1 and "ssh options go after the machine name" in result.stderr


def test_a_store_path_shells_and_openssh_act_on_works_everywhere(
    host_factory: Hosts, ssh_key: tuple[Path, str], tmp_path: Path
) -> None:
    host = host_factory("docker")
    store = tmp_path / "st ore \"dq\" 'sq' $(touch canary) %h #x" / "store"
    cli = CLI(store)
    _create(cli, "odd", host, ssh_key[0])
    assert cli("ssh", "odd", "hostname").stdout.strip() == "odd"
    local = tmp_path / "copy"
    cli("scp", "odd:/etc/hostname", str(local))
    assert local.read_text().strip() == "odd"
    cli("scp", "-d", str(local), "odd:/tmp/back")
    assert host.exec("cat /tmp/back").stdout.strip() == "odd"
    out = cli.bash('eval "$(machine env odd)"; docker info --format "{{.Name}}"')
    assert out.stdout.strip() == "odd", out.stderr
    assert not (tmp_path / "canary").exists()
