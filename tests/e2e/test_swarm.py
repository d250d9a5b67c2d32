"""Swarm mode across machines: three generic machines on test hosts that share a bridge
(testbed.hosts.join_lan: the machine's own namespace does not forward between test hosts) form
a swarm through `create --swarm-init/--swarm-join` and `machine swarm`, run a global service
and a service on an overlay network, change roles, and lose a worker to `rm`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from testbed.hosts import join_lan, lan_address, leave_lan
from tests.machinecli import CLI

Hosts = Any  # the host_factory fixture


def _create(cli: CLI, name: str, host: Any, key: Path, *extra: str) -> None:
    cli(
        *("create", "-d", "generic", "--generic-ip-address", host.ip),
        *("--generic-ssh-key", str(key), "--wait-timeout", "120"),
        *("--swarm-advertise-addr", lan_address(host), *extra, name),
    )


def _docker(cli: CLI, machine: str, command: str) -> str:
    out = cli.bash(f'eval "$(machine env {machine})"\n{command}')
    assert out.returncode == 0, (command, out.stderr)
    return str(out.stdout)


def _until(what: str, check: Any, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(2)


def test_three_machines_make_a_swarm(
    cli: CLI, host_factory: Hosts, ssh_key: tuple[Path, str], busybox: Path
) -> None:
    hosts = [host_factory("docker") for _ in range(3)]
    join_lan(hosts)
    try:
        _create(cli, "sw1", hosts[0], ssh_key[0], "--swarm-init")
        _create(cli, "sw2", hosts[1], ssh_key[0], "--swarm-join", "sw1")
        _create(cli, "sw3", hosts[2], ssh_key[0], "--swarm-join", "sw1")
        nodes = _docker(cli, "sw1", 'docker node ls --format "{{.Hostname}} {{.Status}}"')
        assert sorted(nodes.split("\n")[:-1]) == ["sw1 Ready", "sw2 Ready", "sw3 Ready"], nodes
        rows = {line.split()[0]: line for line in cli("ls").stdout.splitlines()[1:]}
        assert "sw1 (manager, leader)" in rows["sw1"], rows
        assert "sw1 (worker)" in rows["sw2"] and "sw1 (worker)" in rows["sw3"], rows
        in_sw1 = cli("ls", "-q", "--filter", "swarm=sw1").stdout.split()
        assert in_sw1 == ["sw1", "sw2", "sw3"]
        listed = cli("swarm", "ls").stdout
        assert [line.split()[0] for line in listed.splitlines()[1:]] == ["sw1", "sw2", "sw3"]

        for machine in ("sw1", "sw2", "sw3"):
            _docker(cli, machine, f"docker import {busybox} swarm/busybox >/dev/null")
        _docker(
            cli,
            "sw1",
            "docker service create -q --detach --mode global --name everywhere "
            "swarm/busybox /bin/busybox sleep 3600",
        )
        _until(
            "a task of the global service on every node",
            lambda: (
                _docker(
                    cli, "sw1", 'docker service ps everywhere --format "{{.CurrentState}}"'
                ).count("Running")
                == 3
            ),
        )
        # a service on sw2, reached over the overlay network from a container on sw3
        _docker(cli, "sw1", "docker network create -d overlay --attachable mesh >/dev/null")
        _docker(
            cli,
            "sw1",
            # dnsrr: the name resolves to the task's own address on the overlay (a VIP needs
            # IPVS, which this machine's kernel lacks); the packets still cross hosts in VXLAN
            "docker service create -q --detach --name hello --network mesh --endpoint-mode dnsrr "
            "--constraint node.hostname==sw2 swarm/busybox "
            "/bin/busybox sh -c 'while true; do echo hello | /bin/busybox nc -l -p 7000; done'",
        )
        _until(
            "the hello service",
            lambda: (
                "Running"
                in _docker(cli, "sw1", 'docker service ps hello --format "{{.CurrentState}}"')
            ),
        )
        answer = ""
        for _ in range(30):
            answer = _docker(
                cli,
                "sw3",
                "docker run --rm --network mesh swarm/busybox /bin/busybox nc hello 7000 || true",
            )
            if "hello" in answer:
                break
            time.sleep(2)
        assert "hello" in answer

        cli("swarm", "join", "sw2", "--manager", "sw1", "--role", "manager")
        roles = _docker(cli, "sw1", 'docker node ls --format "{{.Hostname}} {{.ManagerStatus}}"')
        assert "sw2 Reachable" in roles, roles
        cli("swarm", "join", "sw2", "--manager", "sw1", "--role", "worker")

        cli("rm", "-y", "sw3")
        nodes = _docker(cli, "sw1", 'docker node ls --format "{{.Hostname}} {{.Status}}"')
        assert sorted(nodes.split("\n")[:-1]) == ["sw1 Ready", "sw2 Ready"], nodes

        refused = cli("rm", "-y", "sw1", check=False)
        assert refused.returncode == 1
        assert "last manager" in refused.stderr and "-f" in refused.stderr
        assert (cli.store / "machines/sw1").exists()
    finally:
        leave_lan()
