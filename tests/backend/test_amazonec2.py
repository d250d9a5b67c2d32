"""The amazonec2 driver against moto's server (a simulator of EC2), the CLI run as a subprocess.

Failures are injected by the proxy in tests/aws.py. Nothing boots in moto: these tests stop at
SSH (the addresses are fenced off, so SSH fails at once and the create rolls back); the SSH and
provisioning half runs in tests/e2e/test_amazonec2.py against a local test host.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import aws

pytestmark = pytest.mark.backend

MACHINE = str(Path(sys.executable).parent / "machine")
SUBNET = "10.232.255.0/28"  # fenced: no host answers here


@pytest.fixture(scope="module")
def ec2() -> Iterator[aws.EC2]:
    with aws.running() as ec2:
        yield ec2


@pytest.fixture
def cloud(ec2: aws.EC2) -> Iterator[aws.EC2]:
    ec2.reset()
    yield ec2
    ec2.reset()


class CLI:
    def __init__(self, store: Path, ec2: aws.EC2) -> None:
        self.store = store
        self.ec2 = ec2

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.ec2.env(), "MACHINE_STORAGE_PATH": str(self.store)}
        result = subprocess.run(
            [MACHINE, *args], env=env, capture_output=True, text=True, timeout=timeout
        )
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        env = {**self.ec2.env(), "MACHINE_STORAGE_PATH": str(self.store)}
        return subprocess.Popen(
            [MACHINE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


@pytest.fixture
def cli(cloud: aws.EC2, tmp_path: Path) -> CLI:
    return CLI(tmp_path / "store", cloud)


def create_args(ec2: aws.EC2, name: str, *extra: str, wait: str = "5") -> list[str]:
    _, subnet = ec2.subnet(SUBNET)
    return [
        "create",
        "-d",
        "amazonec2",
        "--amazonec2-ami",
        ec2.ubuntu_ami(),
        "--amazonec2-subnet-id",
        subnet,
        "--amazonec2-use-private-address",
        "--wait-timeout",
        wait,
        *extra,
        name,
    ]


def nothing_left(ec2: aws.EC2) -> None:
    assert ec2.leftovers() == {"instances": [], "key_pairs": [], "groups": [], "spot_requests": []}


@pytest.fixture(scope="module")
def fenced() -> None:
    if not aws.fence():
        pytest.skip("needs root, to route the test VPC's addresses nowhere")


# --- a failure at each step leaves nothing behind ---------------------------------------------


@pytest.mark.parametrize(
    "action",
    [
        "ImportKeyPair",
        "CreateSecurityGroup",
        "AuthorizeSecurityGroupIngress",
        "RunInstances",
        "DescribeInstances",
    ],
)
def test_a_failed_step_leaves_nothing_behind(cli: CLI, action: str) -> None:
    cli.ec2.fail(action, "UnauthorizedOperation", times=1)
    result = cli(*create_args(cli.ec2, "f1"), check=False)
    assert result.returncode == 1, result.stderr
    assert f"EC2 {action}: UnauthorizedOperation" in result.stderr
    assert "Removed" in result.stderr
    assert "check the IAM policy" in result.stderr
    nothing_left(cli.ec2)
    assert cli("ls", "-q").stdout == ""


def test_no_ssh_rolls_back_the_instance_too(cli: CLI, fenced: None) -> None:
    result = cli(*create_args(cli.ec2, "f2"), check=False)
    assert result.returncode == 1
    assert 'Error in step "Waiting for SSH' in result.stderr, result.stderr
    for kind in ("instance i-", "key-pair f2", "security-group sg-", "client-token machine-"):
        assert kind in result.stderr
    nothing_left(cli.ec2)


def test_a_spot_create_that_fails_leaves_nothing_behind(cli: CLI, fenced: None) -> None:
    args = create_args(cli.ec2, "s1", "--amazonec2-request-spot-instance", "--keep-on-failure")
    result = cli(*args, check=False)
    assert result.returncode == 1 and "kept for inspection" in result.stderr, result.stderr
    config = json.loads((cli.store / "machines/s1/config.json").read_text())["Driver"]
    instance = cli.ec2.client().describe_instances(InstanceIds=[config["InstanceId"]])
    assert instance["Reservations"][0]["Instances"][0]["InstanceLifecycle"] == "spot"
    cli("rm", "-y", "s1")
    nothing_left(cli.ec2)


def test_a_killed_create_is_removed_from_its_journal(cli: CLI) -> None:
    """SIGKILL while RunInstances is in flight: the config never got the instance id, the
    journal has the client token, and rm finds the instance by it."""
    cli.ec2.fail("RunInstances", code="", hang=30)
    proc = cli.popen(*create_args(cli.ec2, "k1", wait="60"))
    deadline = time.monotonic() + 180
    while "RunInstances" not in cli.ec2.calls:
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)  # moto has launched it; the answer is held by the proxy
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(cli.ec2.leftovers()["instances"]) == 1
    config = json.loads((cli.store / "machines/k1/config.json").read_text())
    assert config["Driver"]["InstanceId"] == ""
    removed = cli("rm", "-y", "k1")
    assert "Successfully removed k1" in removed.stdout
    nothing_left(cli.ec2)


def test_throttling_is_waited_out(cli: CLI, fenced: None) -> None:
    cli.ec2.fail("ImportKeyPair", "RequestLimitExceeded", status=503, times=2)
    cli.ec2.fail("RunInstances", "RequestLimitExceeded", status=503, times=2)
    result = cli(*create_args(cli.ec2, "t1"), check=False)
    # it got as far as SSH (fenced off): the throttled calls were retried, not failed
    assert 'Error in step "Waiting for SSH' in result.stderr, result.stderr
    assert cli.ec2.calls.count("RunInstances") == 3
    nothing_left(cli.ec2)


def test_bad_flags_are_refused_before_anything_is_made(cli: CLI) -> None:
    cases = {
        ("--amazonec2-open-port", "80/icmp"): "is not a port",
        ("--amazonec2-tags", "a,b,c"): "key,value pairs",
        ("--amazonec2-allowed-cidr", "10.0.0.1/8"): "is not a network",
        ("--amazonec2-http-tokens", "maybe"): "required or optional",
        ("--amazonec2-keypair-name", "k"): "needs --amazonec2-ssh-keypath",
        ("--amazonec2-region", "mars-1"): "Invalid region specified: mars-1",
    }
    no_ami = [
        a for a in create_args(cli.ec2, "b2") if a not in ("--amazonec2-ami", cli.ec2.ubuntu_ami())
    ]
    no_ami[-1:-1] = ["--amazonec2-endpoint", cli.ec2.url]
    result = cli(*no_ami, check=False)
    assert result.returncode == 3 and "give the image with --amazonec2-ami" in result.stderr
    for flag, message in cases.items():
        result = cli(*create_args(cli.ec2, "b1", *flag), check=False)
        assert result.returncode == 3, (flag, result.stderr)
        assert message in result.stderr, (flag, result.stderr)
    assert not [c for c in cli.ec2.calls if not c.startswith("Describe")]
    nothing_left(cli.ec2)


def test_a_key_pair_named_like_the_machine_is_refused(cli: CLI) -> None:
    from machine.tls import certs

    cli.ec2.client().import_key_pair(
        KeyName="dup", PublicKeyMaterial=certs.ssh_keypair()[1].encode()
    )
    result = cli(*create_args(cli.ec2, "dup"), check=False)
    assert result.returncode == 3
    assert "There is already a keypair with the name dup" in result.stderr
    cli.ec2.client().delete_key_pair(KeyName="dup")


# --- fleets -----------------------------------------------------------------------------------


def test_ls_asks_once_per_region(cli: CLI) -> None:
    ids = aws.machine_records(cli.store, cli.ec2, 30)
    aws.machine_records(cli.store, cli.ec2, 5, region="eu-west-1")
    cli.ec2.client().stop_instances(InstanceIds=ids[:3])
    cli.ec2.reset()
    out = cli("ls", "--format", "{{.Name}} {{.State}}").stdout.splitlines()
    assert len(out) == 35
    assert cli.ec2.calls.count("DescribeInstances") == 2  # one per region, for 35 machines
    states = dict(line.split(" ", 1) for line in out)
    assert [states[f"us-east-1-m{n:03d}"] for n in range(4)] == ["Stopped"] * 3 + ["Running"]
    assert states["eu-west-1-m000"] == "Running"
    cli.ec2.client().terminate_instances(InstanceIds=ids)


def test_ls_under_throttling_shows_the_true_state(cli: CLI) -> None:
    ids = aws.machine_records(cli.store, cli.ec2, 3)
    cli.ec2.reset()
    cli.ec2.fail("DescribeInstances", "RequestLimitExceeded", status=503, times=2)
    out = cli("ls", "--format", "{{.Name}} {{.State}}").stdout.split()
    assert out[1::2] == ["Running"] * 3
    assert cli.ec2.calls.count("DescribeInstances") == 3
    # throttled beyond the retries: an error, never a made-up state
    cli.ec2.fail("DescribeInstances", "RequestLimitExceeded", status=503, times=100)
    status = cli("status", f"{aws.REGION}-m000", check=False)
    assert status.returncode == 1 and "RequestLimitExceeded" in status.stderr
    cli.ec2.reset()
    cli.ec2.client().terminate_instances(InstanceIds=ids)


# --- orphans ----------------------------------------------------------------------------------


def test_orphans_are_found_and_removed(cli: CLI) -> None:
    from machine.store.filestore import Store
    from machine.tls import certs

    ids = aws.machine_records(
        cli.store, cli.ec2, 1
    )  # a machine the store owns (untagged, as from dm)
    store_id = Store(cli.store).identity()
    tags = [{"Key": "machine:store", "Value": store_id}, {"Key": "machine:name", "Value": "gone"}]
    client = cli.ec2.client()
    vpc, subnet = cli.ec2.subnet(SUBNET)
    image = cli.ec2.ubuntu_ami()
    lost = client.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]["InstanceId"]
    client.import_key_pair(
        KeyName="gone",
        PublicKeyMaterial=certs.ssh_keypair()[1].encode(),
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": tags}],
    )
    group = client.create_security_group(
        GroupName="left-behind",
        Description="d",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tags[:1]}],
    )["GroupId"]
    other = [{"Key": "machine:store", "Value": "another-store"}]
    client.import_key_pair(
        KeyName="not-ours",
        PublicKeyMaterial=certs.ssh_keypair()[1].encode(),
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": other}],
    )

    listed = cli("orphans").stdout
    assert listed.splitlines()[0].split() == ["DRIVER", "KIND", "ID", "WHERE", "MACHINE", "DETAIL"]
    for ident in (lost, "gone", group):
        assert ident in listed
    assert "not-ours" not in listed and ids[0] not in listed
    assert sorted(cli("orphans", "-q").stdout.split()) == sorted([lost, "gone", group])

    cli("orphans", "--remove", "-y")
    assert cli("orphans", "-q").stdout == ""
    assert client.describe_instances(InstanceIds=[lost])["Reservations"][0]["Instances"][0][
        "State"
    ]["Name"] in ("shutting-down", "terminated")
    assert [k["KeyName"] for k in client.describe_key_pairs()["KeyPairs"]] == ["not-ours"]
    client.delete_key_pair(KeyName="not-ours")
    client.terminate_instances(InstanceIds=ids)


def test_credentials_never_reach_the_store(cli: CLI, fenced: None) -> None:
    env = {**cli.ec2.env(), "MACHINE_STORAGE_PATH": str(cli.store)}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(key)
    flags = ["--amazonec2-access-key", "testing", "--amazonec2-secret-key", "s3cr3t-value"]
    args = create_args(cli.ec2, "c1", *flags, "--keep-on-failure")
    result = subprocess.run(
        [MACHINE, "--debug", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert "kept for inspection" in result.stderr, result.stderr  # it got as far as SSH
    assert "s3cr3t-value" not in result.stderr + result.stdout
    config = json.loads((cli.store / "machines/c1/config.json").read_text())
    assert config["Driver"]["AccessKey"] == config["Driver"]["SecretKey"] == ""
    assert config["Driver"]["InstanceId"].startswith("i-")
    for path in cli.store.rglob("*"):
        if path.is_file():
            assert b"s3cr3t-value" not in path.read_bytes(), path
    cli("rm", "-y", "c1")  # with the credentials of the environment, as the README says
    nothing_left(cli.ec2)


def test_credentials_come_from_boto3s_chain(cli: CLI, tmp_path: Path) -> None:
    ids = aws.machine_records(cli.store, cli.ec2, 1)
    env = {**cli.ec2.env(), "MACHINE_STORAGE_PATH": str(cli.store)}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(key)
    name = f"{aws.REGION}-m000"

    def status(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MACHINE, "status", name],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )

    none = status()
    assert none.returncode == 1 and "no AWS credentials found" in none.stderr
    assert "~/.aws/credentials" in none.stderr
    credentials = tmp_path / "credentials"
    credentials.write_text("[ci]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    profile = status(AWS_SHARED_CREDENTIALS_FILE=str(credentials), AWS_PROFILE="ci")
    assert profile.stdout.strip() == "Running", profile.stderr
    cli.ec2.client().terminate_instances(InstanceIds=ids)


def test_read_only_groups_are_used_as_they_are(cli: CLI, fenced: None) -> None:
    vpc, _ = cli.ec2.subnet(SUBNET)
    client = cli.ec2.client()
    group = client.create_security_group(GroupName="locked", Description="d", VpcId=vpc)
    args = create_args(
        cli.ec2,
        "ro1",
        "--amazonec2-security-group",
        "locked",
        "--amazonec2-security-group-readonly",
        "--keep-on-failure",
    )
    cli(*args, check=False)
    config = json.loads((cli.store / "machines/ro1/config.json").read_text())["Driver"]
    assert config["SecurityGroupIds"] == [group["GroupId"]]
    assert "AuthorizeSecurityGroupIngress" not in cli.ec2.calls
    assert "CreateSecurityGroup" not in cli.ec2.calls
    cli("rm", "-y", "ro1")
    # a group the user made is never ours to delete
    assert client.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"]
    client.delete_security_group(GroupId=group["GroupId"])
    nothing_left(cli.ec2)


def test_launch_options_reach_ec2(cli: CLI, fenced: None, tmp_path: Path) -> None:
    import base64

    userdata = tmp_path / "user-data"
    userdata.write_text("#!/bin/sh\necho from-the-user > /etc/motd\n")
    args = create_args(
        cli.ec2,
        "opt1",
        "--amazonec2-instance-type",
        "t3.small",
        "--amazonec2-root-size",
        "30",
        "--amazonec2-volume-type",
        "gp3",
        "--amazonec2-encrypt-ebs-volume",
        "--amazonec2-monitoring",
        "--amazonec2-use-ebs-optimized-instance",
        "--amazonec2-http-tokens",
        "optional",
        "--amazonec2-userdata",
        str(userdata),
        "--keep-on-failure",
    )
    cli(*args, check=False)
    config = json.loads((cli.store / "machines/opt1/config.json").read_text())["Driver"]
    client = cli.ec2.client()
    instance = client.describe_instances(InstanceIds=[config["InstanceId"]])["Reservations"][0][
        "Instances"
    ][0]
    assert instance["InstanceType"] == "t3.small"
    assert instance["Monitoring"]["State"] == "enabled"
    assert instance["EbsOptimized"] is True
    assert instance["MetadataOptions"]["HttpTokens"] == "optional"
    volume_id = instance["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    volume = client.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert (volume["Size"], volume["VolumeType"], volume["Encrypted"]) == (30, "gp3", True)
    raw = client.describe_instance_attribute(InstanceId=config["InstanceId"], Attribute="userData")
    data = base64.b64decode(raw["UserData"]["Value"])
    assert b"from-the-user" in data and b"ssh_keys" in data  # merged with ours
    cli("rm", "-y", "opt1")
    nothing_left(cli.ec2)


def test_an_existing_key_pair_is_used_and_kept(cli: CLI, fenced: None, tmp_path: Path) -> None:
    from machine.tls import certs

    private, public = certs.ssh_keypair()
    key = tmp_path / "mine"
    key.write_bytes(private)
    key.chmod(0o600)
    (tmp_path / "mine.pub").write_text(public + "\n")
    client = cli.ec2.client()
    client.import_key_pair(KeyName="mine", PublicKeyMaterial=public.encode())
    args = create_args(
        cli.ec2,
        "kp1",
        "--amazonec2-keypair-name",
        "mine",
        "--amazonec2-ssh-keypath",
        str(key),
        "--keep-on-failure",
    )
    cli(*args, check=False)
    assert "ImportKeyPair" not in cli.ec2.calls
    mdir = cli.store / "machines/kp1"
    config = json.loads((mdir / "config.json").read_text())["Driver"]
    assert (config["KeyName"], config["ExistingKey"]) == ("mine", True)
    assert (mdir / "id_rsa").read_bytes() == private  # the user's key, copied as docker-machine did
    assert (mdir / "id_rsa").stat().st_mode & 0o777 == 0o600
    instance = client.describe_instances(InstanceIds=[config["InstanceId"]])
    assert instance["Reservations"][0]["Instances"][0]["KeyName"] == "mine"
    cli("rm", "-y", "kp1")
    assert [k["KeyName"] for k in client.describe_key_pairs()["KeyPairs"]] == ["mine"]
    client.delete_key_pair(KeyName="mine")
    nothing_left(cli.ec2)

    missing = cli(
        *create_args(
            cli.ec2, "kp2", "--amazonec2-keypair-name", "nope", "--amazonec2-ssh-keypath", str(key)
        ),
        check=False,
    )
    assert missing.returncode == 3 and "There is no keypair with the name nope" in missing.stderr


def test_orphans_are_not_removed_while_a_machine_cannot_be_read(cli: CLI) -> None:
    from machine.store.filestore import Store
    from machine.tls import certs

    store_id = Store(cli.store).identity()
    client = cli.ec2.client()
    client.import_key_pair(
        KeyName="maybe-owned",
        PublicKeyMaterial=certs.ssh_keypair()[1].encode(),
        TagSpecifications=[
            {"ResourceType": "key-pair", "Tags": [{"Key": "machine:store", "Value": store_id}]}
        ],
    )
    broken = cli.store / "machines/broken"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{ not json")
    result = cli("orphans", "--remove", "-y", check=False)
    assert result.returncode == 1
    assert "could not be read" in result.stderr and "broken" in result.stderr
    assert "Not removing anything" in result.stderr
    assert [k["KeyName"] for k in client.describe_key_pairs()["KeyPairs"]] == ["maybe-owned"]
    client.delete_key_pair(KeyName="maybe-owned")
