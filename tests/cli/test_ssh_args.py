"""Record values never become options or commands of ssh, scp, rsync or sshfs: hostile SSH
users, hosts and ports are refused when a record is read, and what does reach OpenSSH (paths
in ssh_config and -o options) comes back from OpenSSH's own parser unchanged."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from machine.remote.ssh import Target, config_value, openssh_argv, split_ssh_words
from machine.remote.transfer import ssh_config
from tests.cli.conftest import Sandbox


def _generic_record(box: Sandbox, name: str, **driver: object) -> None:
    folder = box.store / "machines" / name
    folder.mkdir(parents=True)
    (folder / "known_hosts").write_text("")
    data = {
        "ConfigVersion": 3,
        "Driver": {
            "IPAddress": "127.0.0.1",
            "MachineName": name,
            "SSHUser": "root",
            "SSHPort": 22,
            "SSHKeyPath": "",
            "StorePath": str(box.store),
            "EnginePort": 2376,
            "SSHKey": "",
            **driver,
        },
        "DriverName": "generic",
        "HostOptions": {"Driver": "generic"},
        "Name": name,
    }
    (folder / "config.json").write_text(json.dumps(data))


HOSTILE: dict[str, dict[str, object]] = {
    "user-option": {"SSHUser": "-oProxyCommand=touch {canary}"},
    "user-newline": {"SSHUser": "root\nProxyCommand touch {canary}"},
    "user-quote": {"SSHUser": 'root" ProxyCommand "touch {canary}'},
    "host-option": {"IPAddress": "-oProxyCommand=touch {canary}"},
    "host-newline": {"IPAddress": "127.0.0.1\nProxyCommand touch {canary}"},
    "port-text": {"SSHPort": "22 -oProxyCommand=touch"},
    "port-range": {"SSHPort": 99999},
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_ssh_fields_are_refused_by_every_command(sandbox: Sandbox, kind: str) -> None:
    fields = {
        k: v.format(canary=sandbox.canary) if isinstance(v, str) else v
        for k, v in HOSTILE[kind].items()
    }
    _generic_record(sandbox, "h1", **fields)
    commands = [
        ["ssh", "h1", "true"],
        ["ssh", "h1"],
        ["scp", "h1:/etc/hostname", "copy"],
        ["scp", "-d", "h1:/etc/hostname", "copy"],
        ["mount", "h1:/srv", "mnt"],
        ["provision", "h1"],
        ["regenerate-certs", "-f", "h1"],
        ["restart", "h1"],
        ["env", "h1"],
        ["ls"],
    ]
    results = sandbox.run_many([{"argv": argv, "timeout": 20} for argv in commands])
    for argv, result in zip(commands, results, strict=True):
        where = f"{argv}: {result}"
        assert "Traceback" not in result["stderr"] and "This is a bug" not in result["stderr"]
        if argv == ["ls"]:
            assert result["code"] == 0 and "Error" in result["stdout"], where
            continue
        assert result["code"] == 1, where
        err = result["stderr"]
        assert "config.json" in err, where
        assert "Driver.SSH" in err or "Driver.IPAddress" in err, where
    assert not sandbox.canary.exists()
    assert not (sandbox.cwd / "copy").exists()


def test_ssh_words_split_into_options_and_command() -> None:
    assert split_ssh_words(["-C", "echo", "foo"]) == (["-C"], ["echo", "foo"])
    assert split_ssh_words(["--", "sudo", "docker", "version"]) == (
        [],
        ["sudo", "docker", "version"],
    )
    assert split_ssh_words(["-L", "8080:localhost:80", "-N"]) == (
        ["-L", "8080:localhost:80", "-N"],
        [],
    )
    assert split_ssh_words(["-A", "-L8080:h:80", "-o", "X=1", "--", "-x"]) == (
        ["-A", "-L8080:h:80", "-o", "X=1"],
        ["-x"],
    )
    assert split_ssh_words(["uptime", "-p"]) == ([], ["uptime", "-p"])


def _target(folder: Path) -> Target:
    return Target("10.0.0.5", 2222, "docker", str(folder / "id_rsa"), folder / "known_hosts", "web")


# a store folder name with what OpenSSH's config parser and its % and ~ expansion act on
ODD = "st ore \"dq\" 'sq' %d %h # x\\y $(touch canary)"


def test_ssh_config_values_come_back_from_openssh_unchanged(tmp_path: Path) -> None:
    folder = tmp_path / ODD / "machines" / "web"
    config = tmp_path / "config"
    config.write_text(ssh_config({"web": _target(folder)}))
    parsed = subprocess.run(
        ["ssh", "-G", "-F", str(config), "machine-web"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert f"userknownhostsfile {folder / 'known_hosts'}" in parsed
    assert "hostname 10.0.0.5" in parsed and "port 2222" in parsed and "user docker" in parsed
    assert "hostkeyalias web" in parsed
    assert not any(line.startswith("proxycommand") for line in parsed)


def test_openssh_argv_puts_the_host_after_double_dash(tmp_path: Path) -> None:
    folder = tmp_path / ODD
    argv = openssh_argv(_target(folder), ["-L", "1:h:2", "--", "uptime"], stdin_tty=False)
    assert argv[argv.index("--") + 1 :] == ["10.0.0.5", "uptime"]
    assert argv[argv.index("-l") + 1] == "docker" and argv[argv.index("-p") + 1] == "2222"
    assert "-L" in argv[: argv.index("--")]
    parsed = subprocess.run(
        [*argv[: argv.index("--")], "-G", "--", "10.0.0.5"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert f"userknownhostsfile {folder / 'known_hosts'}" in parsed


def test_a_line_break_never_reaches_an_ssh_config() -> None:
    from machine.errors import MachineError

    with pytest.raises(MachineError):
        config_value("/a\nProxyCommand touch x", path=True)
