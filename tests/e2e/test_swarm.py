"""Swarm mode across machines of two kinds: three generic machines on test hosts and a kvm
machine on machine-os, all on the tests' libvirt network (the hosts get a second interface on
its bridge, testbed.libvirt.LAN), form one swarm through `create --swarm-init/--swarm-join` and
`machine swarm`; they run a global service and a service on an overlay network, change roles,
and lose nodes to `rm`. The CLI runs where the guests are reachable (tests/kvmcli.py)."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from testbed import libvirt as libvirt_host
from tests.kvmcli import KvmCLI
from tests.machinecli import MACHINE

Hosts = Any  # the host_factory fixture
LAN = libvirt_host.LAN


def _create(cli: KvmCLI, name: str, host: Any, key: Path, *extra: str) -> None:
    address = LAN.address(host)
    cli(
        *("create", "-d", "generic", "--generic-ip-address", address),
        *("--generic-ssh-key", str(key), "--wait-timeout", "120"),
        *("--swarm-advertise-addr", address, *extra, name),
    )


def _docker(cli: KvmCLI, machine: str, command: str) -> str:
    out = cli.bash(f'eval "$(machine env {machine})"\n{command}')
    assert out.returncode == 0, (command, out.stderr)
    return str(out.stdout)


def _until(what: str, check: Any, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(2)


def _nodes(cli: KvmCLI) -> list[str]:
    out = _docker(cli, "sw1", 'docker node ls --format "{{.Hostname}} {{.Status}}"')
    return sorted(out.splitlines())


def test_machines_and_a_vm_make_a_swarm(
    libvirt: None,
    machine_os: Path,
    tmp_path: Path,
    host_factory: Hosts,
    ssh_key: tuple[Path, str],
    busybox: Path,
) -> None:
    cli = KvmCLI(tmp_path / "store")
    # the VM boots (slow under emulation) while the hosts are made and joined
    create_vm = [MACHINE, "create", "-d", "kvm", "--kvm-network", libvirt_host.NETWORK,
                 "--wait-timeout", "600", "sw4"]  # fmt: skip
    vm = subprocess.Popen(
        libvirt_host.in_netns(create_vm),
        env=cli.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    hosts = [host_factory("docker") for _ in range(3)]
    LAN.join(hosts)
    try:
        _create(cli, "sw1", hosts[0], ssh_key[0], "--swarm-init")
        # two joins at once, as a fleet's autoscaler makes them
        with ThreadPoolExecutor(2) as pool:
            joins = [
                pool.submit(_create, cli, f"sw{i + 1}", hosts[i], ssh_key[0], "--swarm-join", "sw1")
                for i in (1, 2)
            ]
            for join in joins:
                join.result()
        assert _nodes(cli) == ["sw1 Ready", "sw2 Ready", "sw3 Ready"]

        out, err = vm.communicate(timeout=900)
        assert vm.returncode == 0, (out, err)
        # advertised at its endpoint's address (the libvirt network's), no flag given
        cli("swarm", "join", "sw4", "--manager", "sw1")
        _until("the VM's node Ready", lambda: "sw4 Ready" in _nodes(cli))
        assert _nodes(cli) == ["sw1 Ready", "sw2 Ready", "sw3 Ready", "sw4 Ready"]
        vm_ip = cli("ip", "sw4").stdout.strip()
        assert vm_ip.startswith(f"{libvirt_host.SUBNET}.")
        seen = _docker(cli, "sw1", "docker node inspect sw4 --format '{{.Status.Addr}}'")
        assert seen.strip() == vm_ip

        rows = {line.split()[0]: line for line in cli("ls").stdout.splitlines()[1:]}
        assert "sw1 (manager, leader)" in rows["sw1"], rows
        for worker in ("sw2", "sw3", "sw4"):
            assert "sw1 (worker)" in rows[worker], rows
        in_sw1 = cli("ls", "-q", "--filter", "swarm=sw1").stdout.split()
        assert in_sw1 == ["sw1", "sw2", "sw3", "sw4"]
        listed = cli("swarm", "ls").stdout.splitlines()
        assert [line.split()[0] for line in listed[1:]] == ["sw1", "sw2", "sw3", "sw4"], listed
        role = cli("inspect", "-f", "{{.SwarmMode.Role}} {{.SwarmMode.Swarm}}", "sw4").stdout
        assert role.strip() == "worker sw1"
        assert cli("inspect", "-f", "{{.SwarmMode.AdvertiseAddr}}", "sw2").stdout.strip() == (
            LAN.address(hosts[1])
        )

        for machine in ("sw1", "sw2", "sw3", "sw4"):
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
                == 4
            ),
        )
        # a service on sw2 (a host), reached over the overlay network from a container on the VM
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
                "sw4",
                "docker run --rm --network mesh swarm/busybox /bin/busybox nc hello 7000 || true",
            )
            if "hello" in answer:
                break
            time.sleep(2)
        assert "hello" in answer

        cli("swarm", "join", "sw2", "--manager", "sw1", "--role", "manager")
        roles = _docker(cli, "sw1", 'docker node ls --format "{{.Hostname}} {{.ManagerStatus}}"')
        assert "sw2 Reachable" in roles, roles
        assert "manager" in cli("inspect", "-f", "{{.SwarmMode.Role}}", "sw2").stdout
        cli("swarm", "join", "sw2", "--manager", "sw1", "--role", "worker")

        # a worker goes: drained, left, and off the managers' list (no Down node)
        cli("rm", "-y", "sw4")
        assert _nodes(cli) == ["sw1 Ready", "sw2 Ready", "sw3 Ready"]
        # one whose engine no longer answers is taken off the list by a manager
        cli("ssh", "sw3", "sudo systemctl stop docker.socket docker")
        cli("rm", "-y", "sw3")
        assert _nodes(cli) == ["sw1 Ready", "sw2 Ready"]

        refused = cli("rm", "-y", "sw1", check=False)
        assert refused.returncode == 1
        assert "last manager" in refused.stderr and "-f" in refused.stderr
        assert (cli.store / "machines/sw1").exists()
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()
        LAN.leave(hosts)
