"""A failed or killed provisioning leaves an existing server as it was: a host that already
serves machine m1 keeps its host name, TLS files, drop-in and running engine when a create of
m2 on it fails; a create killed outright (SIGKILL) mid-provisioning leaves a note that `ls`
shows, and `rm` puts the host back (or `provision` finishes the job). The same for `provision`
and `regenerate-certs` that fail half-way. Real test hosts (systemd-nspawn, sshd, dockerd)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.test_generic import _create
from tests.machinecli import CLI

Hosts = Any
ROOT = Path(__file__).resolve().parents[2]

WATCHED = (
    "/etc/hostname",
    "/etc/hosts",
    "/etc/docker/ca.pem",
    "/etc/docker/server.pem",
    "/etc/docker/server-key.pem",
    "/etc/systemd/system/docker.service.d/10-machine.conf",
)


def _state(host: Any) -> dict[str, str]:
    """What provisioning may change on the host, and whether the engine runs."""
    sums = host.exec(f"sha256sum {' '.join(WATCHED)}").stdout
    return {
        "files": sums,
        "hostname": host.exec("hostname").stdout.strip(),
        "engine": host.exec("systemctl is-active docker.service").stdout.strip(),
        "backup": host.exec("test -e /var/lib/machine/backup && echo yes").stdout.strip(),
    }


def _works(cli: CLI, name: str) -> bool:
    out = cli.bash(f'eval "$(machine env {name})"; docker info --format "{{{{.Name}}}}"')
    return out.returncode == 0 and out.stdout.strip() == name


def test_a_failed_create_on_a_server_leaves_it_as_it_was(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str]
) -> None:
    host = host_factory("docker")
    _create(cli, "m1", host, ssh_key[0])
    before = _state(host)
    assert before["engine"] == "active" and before["hostname"] == "m1"
    failed = cli(
        "create", "-d", "generic", "--generic-ip-address", host.ip,
        "--generic-ssh-key", str(ssh_key[0]), "--wait-timeout", "60",
        "--engine-opt", "bogus-flag=1", "m2", check=False,
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    assert "put back as they were" in failed.stderr, failed.stderr
    assert _state(host) == before  # host name, files, engine running, no copy left
    assert _works(cli, "m1")
    assert cli("ls", "-q").stdout == "m1\n"


def _killed(cli: CLI, point: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.killpoint", *args],
        env={**cli.env(), "MACHINE_TEST_KILL_AT": point, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_create_killed_mid_provisioning_is_put_right_by_rm(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str]
) -> None:
    host = host_factory("docker")
    _create(cli, "m1", host, ssh_key[0])
    before = _state(host)
    args = ["create", "-d", "generic", "--generic-ip-address", host.ip,
            "--generic-ssh-key", str(ssh_key[0]), "m2"]  # fmt: skip
    killed = _killed(cli, "machine.provision.run:_apply:before", *args)
    assert killed.returncode == -9, killed.stderr
    changed = _state(host)
    assert changed["hostname"] == "m2" and changed["backup"] == "yes"
    rows = {line.split()[0]: line for line in cli("ls").stdout.splitlines()[1:]}
    assert "provision m2" in rows["m2"] and "rm -y m2" in rows["m2"], rows["m2"]
    removed = cli("rm", "-y", "m2")
    assert "put back as they were" in removed.stderr, removed.stderr
    assert _state(host) == before
    assert _works(cli, "m1")


def test_a_create_killed_mid_provisioning_is_finished_by_provision(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str]
) -> None:
    host = host_factory("docker")
    args = ["create", "-d", "generic", "--generic-ip-address", host.ip,
            "--generic-ssh-key", str(ssh_key[0]), "m3"]  # fmt: skip
    killed = _killed(cli, "machine.provision.host:RootShell.put_all:after", *args)
    assert killed.returncode == -9, killed.stderr
    cli("provision", "m3")
    assert _works(cli, "m3")
    state = _state(host)
    assert state["backup"] == "" and state["hostname"] == "m3"
    row = cli("ls").stdout.splitlines()[1]
    assert "Running" in row and "did not finish" not in row, row  # a complete machine now
    # finished: the journal of the killed create is gone (no journal is "ready")
    assert not (cli.store / "machines/m3/journal.json").exists()


def test_provision_and_regenerate_certs_that_fail_put_the_host_back(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str]
) -> None:
    host = host_factory("docker")
    _create(cli, "m4", host, ssh_key[0])
    before = _state(host)
    # the record asks for a flag the engine refuses (edited by hand, or a newer option)
    config_path = cli.store / "machines/m4/config.json"
    config = json.loads(config_path.read_text())
    config["HostOptions"]["EngineOptions"]["ArbitraryFlags"] = ["bogus-flag=1"]
    config_path.write_text(json.dumps(config, indent=4))
    for argv in (["provision", "m4"], ["regenerate-certs", "-f", "m4"]):
        result = cli(*argv, check=False)
        assert result.returncode == 1, (argv, result.stderr)
        assert "put back as they were" in result.stderr, (argv, result.stderr)
        after = _state(host)
        assert {k: v for k, v in after.items() if k != "files"} == {
            k: v for k, v in before.items() if k != "files"
        }
        if argv[0] == "provision":
            assert after == before
        assert _works(cli, "m4"), argv
