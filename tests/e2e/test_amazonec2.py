"""The amazonec2 driver end to end: moto's server (a simulator of EC2's API) for the cloud, and
local test hosts standing in for the instances it launches (tests/e2e/instance_host.py), so SSH,
provisioning and `docker run` through `eval $(machine env)` are real.

Instances live in subnets of 10.232.0.0/16; that range is routed to our test hosts and nowhere
else (tests/aws.fence), so nothing here can reach an address that is not ours.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.hosts import TestHost
from testbed.instances import InstanceHost
from tests import aws
from tests.e2e.conftest import _next_index
from tests.machinecli import MACHINE

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cloud(
    _prereqs: None, ssh_key: tuple[Path, str]
) -> Iterator[tuple[aws.EC2, list[InstanceHost]]]:
    assert aws.fence()
    with aws.running() as ec2:
        hosts: list[InstanceHost] = []
        try:
            for n in (1, 2):
                index = next(_next_index)
                host = TestHost(name=f"mt-ec2-{index}", index=index, variant="docker")
                try:
                    host.boot(ssh_key[1])
                except BaseException:
                    host.cleanup()  # a host that did not boot is not in `hosts` yet
                    raise
                cidr = f"10.232.{n}.0/28"
                _, subnet = ec2.subnet(cidr)
                instance_host = InstanceHost(host, cidr, subnet, ec2)
                instance_host.start()
                hosts.append(instance_host)
            yield ec2, hosts
        finally:
            for h in hosts:
                h.stop()
                h.host.cleanup()


class CLI:
    def __init__(self, store: Path, ec2: aws.EC2) -> None:
        self.store = store
        self.ec2 = ec2

    def env(self) -> dict[str, str]:
        return {
            **self.ec2.env(),
            "MACHINE_STORAGE_PATH": str(self.store),
            "SHELL": "/bin/bash",
            "PATH": f"{Path(MACHINE).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [MACHINE, *args], env=self.env(), capture_output=True, text=True, timeout=600
        )
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def bash(self, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=600,
        )


def create(
    cli: CLI, host: InstanceHost, name: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return cli(
        "create",
        "-d",
        "amazonec2",
        "--amazonec2-ami",
        cli.ec2.ubuntu_ami(),
        "--amazonec2-subnet-id",
        host.subnet_id,
        "--amazonec2-use-private-address",
        "--wait-timeout",
        "300",
        *extra,
        name,
    )


def in_subnet(ip: str, host: InstanceHost) -> bool:
    import ipaddress

    return ipaddress.ip_address(ip) in ipaddress.ip_network(host.cidr)


def test_an_instance_runs_containers_through_env(
    cloud: tuple[aws.EC2, list[InstanceHost]], tmp_path: Path, busybox: Path
) -> None:
    ec2, hosts = cloud
    cli = CLI(tmp_path / "store", ec2)
    created = create(
        cli,
        hosts[0],
        "ec1",
        "--amazonec2-tags",
        "team,ci",
        "--amazonec2-allowed-cidr",
        "10.231.0.0/16",
        "--amazonec2-open-port",
        "8080/udp",
    )
    assert "Docker is up and running!" in created.stderr
    ip = cli("ip", "ec1").stdout.strip()
    assert in_subnet(ip, hosts[0])
    # the host key came in the user data and was pinned before the first contact; then the
    # instance made a key of its own, now pinned: the one in the user data opens nothing
    pinned = (cli.store / "machines/ec1/known_hosts").read_text().split()
    assert pinned[1] == "ssh-ed25519"
    seeded = _seeded_host_key(ec2, cli.store / "machines/ec1/config.json")
    assert seeded != pinned[2]
    offered = hosts[0].host.exec("cat /etc/ssh/ssh_host_*_key.pub").stdout.split()
    assert offered[:2] == ["ssh-ed25519", pinned[2]] and seeded not in offered
    assert cli("ssh", "ec1", "id -un").stdout.strip() == "ubuntu"
    out = cli.bash(
        'eval "$(machine env ec1)"\n'
        f"docker import {busybox} ec2/busybox >/dev/null\n"
        "docker run --rm ec2/busybox /bin/busybox echo from-an-instance"
    )
    assert out.stdout.strip() == "from-an-instance", out.stderr

    # what EC2 was asked for
    client = ec2.client()
    config = json.loads((cli.store / "machines/ec1/config.json").read_text())["Driver"]
    instance = client.describe_instances(InstanceIds=[config["InstanceId"]])["Reservations"][0][
        "Instances"
    ][0]
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    store_id = (cli.store / ".store-id").read_text().strip()
    assert tags == {"Name": "ec1", "machine:store": store_id, "machine:name": "ec1", "team": "ci"}
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    group = client.describe_security_groups(GroupIds=config["SecurityGroupIds"])["SecurityGroups"][
        0
    ]
    assert group["GroupName"] == "docker-machine"
    opened = {
        (p["IpProtocol"], p["FromPort"], r["CidrIp"])
        for p in group["IpPermissions"]
        for r in p["IpRanges"]
    }
    assert opened == {
        ("tcp", 22, "10.231.0.0/16"),
        ("tcp", 2376, "10.231.0.0/16"),
        ("udp", 8080, "10.231.0.0/16"),
    }

    assert 'Machine "ec1" was stopped.' in cli("stop", "ec1").stderr
    assert cli("status", "ec1").stdout.strip() == "Stopped"
    cli("start", "ec1")
    assert cli("status", "ec1").stdout.strip() == "Running"
    again = cli.bash('eval "$(machine env ec1)"; docker info --format "{{.Name}}"')
    assert again.stdout.strip() == "ec1", again.stderr
    cli("restart", "ec1")
    assert cli("status", "ec1").stdout.strip() == "Running"
    cli("kill", "ec1")
    assert cli("status", "ec1").stdout.strip() == "Stopped"

    cli("rm", "-y", "ec1")
    assert not (cli.store / "machines/ec1").exists()
    assert ec2.leftovers() == {"instances": [], "key_pairs": [], "groups": [], "spot_requests": []}


def _seeded_host_key(ec2: aws.EC2, config: Path) -> str:
    from testbed.instances import cloud_config

    instance = json.loads(config.read_text())["Driver"]["InstanceId"]
    raw = ec2.client().describe_instance_attribute(InstanceId=instance, Attribute="userData")
    public = cloud_config(raw["UserData"]["Value"])["ssh_keys"]["ed25519_public"]
    return str(public.split()[1])


def test_parallel_creates_share_the_security_group(
    cloud: tuple[aws.EC2, list[InstanceHost]], tmp_path: Path
) -> None:
    ec2, hosts = cloud
    cli = CLI(tmp_path / "store", ec2)
    results: dict[str, subprocess.CompletedProcess[str]] = {}

    def make(name: str, host: InstanceHost) -> None:
        results[name] = create(cli, host, name, "--amazonec2-security-group", "ci-builders")

    threads = [
        threading.Thread(target=make, args=(f"par{n}", host)) for n, host in enumerate(hosts)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    groups = {
        tuple(
            json.loads((cli.store / f"machines/par{n}/config.json").read_text())["Driver"][
                "SecurityGroupIds"
            ]
        )
        for n in range(2)
    }
    assert len(groups) == 1  # one group, made by one of them, used by both
    named = [
        g
        for g in ec2.client().describe_security_groups()["SecurityGroups"]
        if g["GroupName"] == "ci-builders"
    ]
    assert len(named) == 1
    for n, host in enumerate(hosts):
        assert in_subnet(cli("ip", f"par{n}").stdout.strip(), host)
    # the group outlives the first rm (the other machine uses it) and goes with the last
    cli("rm", "-y", "par0")
    assert [
        g["GroupName"] for g in ec2.client().describe_security_groups()["SecurityGroups"]
    ].count("ci-builders") == 1
    cli("rm", "-y", "par1")
    assert ec2.leftovers()["groups"] == []


def test_a_spot_instance_with_private_address_only(
    cloud: tuple[aws.EC2, list[InstanceHost]], tmp_path: Path
) -> None:
    ec2, hosts = cloud
    cli = CLI(tmp_path / "store", ec2)
    create(
        cli,
        hosts[1],
        "spot1",
        "--amazonec2-request-spot-instance",
        "--amazonec2-spot-price",
        "0.10",
        "--amazonec2-private-address-only",
    )
    config = json.loads((cli.store / "machines/spot1/config.json").read_text())["Driver"]
    instance = ec2.client().describe_instances(InstanceIds=[config["InstanceId"]])
    described = instance["Reservations"][0]["Instances"][0]
    assert described["InstanceLifecycle"] == "spot"
    assert "PublicIpAddress" not in described  # private address only
    assert in_subnet(config["IPAddress"], hosts[1])
    out = cli.bash('eval "$(machine env spot1)"; docker info --format "{{.Name}}"')
    assert out.stdout.strip() == "spot1", out.stderr
    cli("rm", "-y", "spot1")
    assert ec2.leftovers() == {"instances": [], "key_pairs": [], "groups": [], "spot_requests": []}
