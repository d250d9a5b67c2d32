"""`machine create -d amazonec2` with nothing but an endpoint and an AMI, as a user of an
EC2-compatible cloud types it: the default VPC and its subnet are found, the instance is
reached at its public address, and a container runs. moto's server (a simulator of EC2) with
the account's default VPC placed in the test range; its public addresses are answered as the
instances' private ones (their 1:1 NAT), where a local test host stands in for the instance."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.hosts import TestHost
from testbed.instances import InstanceHost
from tests import aws
from tests.e2e.conftest import _next_index
from tests.machinecli import MACHINE

pytestmark = pytest.mark.e2e

DEFAULT_SUBNET = "10.232.0.0/20"


@pytest.fixture(scope="module")
def plain_cloud(_prereqs: None, ssh_key: tuple[Path, str]) -> Iterator[aws.EC2]:
    assert aws.fence()
    with aws.running() as ec2:
        ec2.nat = True
        subnet = aws.default_vpc_in_test_range(ec2, DEFAULT_SUBNET)
        index = next(_next_index)
        host = TestHost(name=f"mt-ec2-{index}", index=index, variant="docker")
        stand_in = InstanceHost(host, DEFAULT_SUBNET, subnet, ec2)
        try:
            host.boot(ssh_key[1])
            stand_in.start()
            yield ec2
        finally:
            stand_in.stop()
            host.cleanup()


def _cli(ec2: aws.EC2, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **ec2.env(),
        "MACHINE_STORAGE_PATH": str(store),
        "SHELL": "/bin/bash",
        "PATH": f"{Path(MACHINE).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
    }
    del env["AWS_ENDPOINT_URL_EC2"], env["AWS_ENDPOINT_URL_SSM"]  # only the flag says where
    return subprocess.run([MACHINE, *args], env=env, capture_output=True, text=True, timeout=600)


def test_only_an_endpoint_and_an_ami(plain_cloud: aws.EC2, tmp_path: Path, busybox: Path) -> None:
    ec2 = plain_cloud
    store = tmp_path / "store"
    flags = ["--amazonec2-endpoint", ec2.url, "--amazonec2-ami", ec2.ubuntu_ami()]
    made = _cli(ec2, store, "create", "-d", "amazonec2", *flags, "plain")
    assert made.returncode == 0, made.stderr
    ip = _cli(ec2, store, "ip", "plain").stdout.strip()
    assert ip.startswith("10.232.")
    run = subprocess.run(
        [
            "bash",
            "-euo",
            "pipefail",
            "-c",
            f'eval "$({MACHINE} env plain)"; docker import {busybox} plain/bb >/dev/null; '
            "docker run --rm plain/bb /bin/busybox echo plain",
        ],
        env={**ec2.env(), "MACHINE_STORAGE_PATH": str(store), "SHELL": "/bin/bash"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.stdout.strip() == "plain", run.stderr
    assert _cli(ec2, store, "rm", "-y", "plain").returncode == 0
    assert ec2.leftovers() == {"instances": [], "key_pairs": [], "groups": [], "spot_requests": []}


def test_a_missing_ami_is_named_and_nothing_is_left(plain_cloud: aws.EC2, tmp_path: Path) -> None:
    ec2 = plain_cloud
    store = tmp_path / "store"
    flags = ["--amazonec2-endpoint", ec2.url, "--amazonec2-ami", "ami-0000000000000dead"]
    result = _cli(ec2, store, "create", "-d", "amazonec2", *flags, "noami")
    assert result.returncode == 3, result.stderr
    assert "ami-0000000000000dead" in result.stderr
    assert not (store / "machines/noami").exists()
    assert ec2.leftovers() == {"instances": [], "key_pairs": [], "groups": [], "spot_requests": []}
