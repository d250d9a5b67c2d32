"""The amazonec2 driver's retry policy, batching and partial failures, with botocore's Stubber
(canned answers, no network)."""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from machine.driver import DriverError, PreCreateCheckFailed, State
from machine_driver_amazonec2 import Driver, EC2Config, api


def throttled(
    stub: Stubber, operation: str, times: int, params: dict[str, Any] | None = None
) -> None:
    for _ in range(times):
        stub.add_client_error(
            operation,
            service_error_code="RequestLimitExceeded",
            http_status_code=503,
            expected_params=params,
        )


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def ec2() -> Iterator[tuple[Stubber, api.Api, Sleeps]]:
    client = boto3.client(
        "ec2",
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    )
    sleeps = Sleeps()
    stub = Stubber(client)
    with stub:
        yield (
            stub,
            api.Api(client, api.RetryPolicy(retries=3, sleep=sleeps, random=lambda: 0.5)),
            sleeps,
        )
        stub.assert_no_pending_responses()


def test_throttling_is_retried_with_growing_jittered_waits(ec2: Any) -> None:
    stub, call, sleeps = ec2
    throttled(stub, "describe_key_pairs", 3)
    stub.add_response("describe_key_pairs", {"KeyPairs": [{"KeyName": "k"}]})
    assert call("DescribeKeyPairs")["KeyPairs"][0]["KeyName"] == "k"
    assert sleeps == [0.25, 0.5, 1.0]  # random() * base * 2**n, with random() = 0.5


def test_the_wait_is_capped_and_jittered() -> None:
    policy = api.RetryPolicy(base=0.5, cap=20.0, random=lambda: 1.0)
    assert [policy.delay(n) for n in (0, 3, 10)] == [0.5, 4.0, 20.0]
    assert api.RetryPolicy(random=lambda: 0.0).delay(5) == 0.0


def test_throttling_beyond_the_retries_is_an_error(ec2: Any) -> None:
    stub, call, sleeps = ec2
    throttled(stub, "describe_key_pairs", 4)
    with pytest.raises(api.ApiError) as caught:
        call("DescribeKeyPairs")
    assert caught.value.code == "RequestLimitExceeded" and len(sleeps) == 3


def test_other_errors_are_not_retried(ec2: Any) -> None:
    stub, call, sleeps = ec2
    stub.add_client_error("delete_key_pair", service_error_code="UnauthorizedOperation")
    with pytest.raises(api.ApiError) as caught:
        call("DeleteKeyPair", KeyName="k")
    assert sleeps == [] and "check the IAM policy" in caught.value.hint
    stub.add_client_error("delete_key_pair", service_error_code="AuthFailure")
    with pytest.raises(api.ApiError) as caught:
        call("DeleteKeyPair", KeyName="k")
    assert "never written into the store" in caught.value.hint


def test_eventual_consistency_is_waited_out_where_asked(ec2: Any) -> None:
    stub, call, sleeps = ec2
    stub.add_client_error("describe_instances", service_error_code="InvalidInstanceID.NotFound")
    stub.add_response("describe_instances", {"Reservations": []})
    call("DescribeInstances", retry_codes=frozenset({"InvalidInstanceID.NotFound"}))
    assert len(sleeps) == 1


def _driver(stubbed: api.Api, monkeypatch: pytest.MonkeyPatch, **cfg: Any) -> Driver:
    monkeypatch.setattr(api, "client", lambda *a, **k: stubbed)
    return Driver(EC2Config(MachineName="m", **cfg))


def _instance(ident: str, state: str) -> dict[str, Any]:
    return {"InstanceId": ident, "State": {"Name": state, "Code": 16}}


def test_states_of_many_machines_in_one_call(ec2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stub, call, _ = ec2
    drivers = [_driver(call, monkeypatch, InstanceId=f"i-{n}") for n in range(3)]
    drivers.append(_driver(call, monkeypatch))  # never got an instance
    throttled(stub, "describe_instances", 2)
    stub.add_response(
        "describe_instances",
        {
            "Reservations": [
                {"Instances": [_instance("i-0", "running"), _instance("i-1", "stopped")]}
            ]
        },
        {"Filters": [{"Name": "instance-id", "Values": ["i-0", "i-1", "i-2"]}]},
    )
    assert Driver.states(drivers) == [State.RUNNING, State.STOPPED, State.NOT_FOUND, State.NONE]


def test_a_throttled_listing_is_an_error_never_a_state(
    ec2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub, call, _ = ec2
    throttled(stub, "describe_instances", 4)
    with pytest.raises(DriverError, match="RequestLimitExceeded"):
        Driver.states([_driver(call, monkeypatch, InstanceId="i-0")])


def test_removal_tries_everything_and_reports_what_failed(
    ec2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub, call, _ = ec2
    driver = _driver(
        call, monkeypatch, InstanceId="i-0", KeyName="m", SpotInstanceRequestId="sir-1"
    )
    stub.add_client_error(
        "cancel_spot_instance_requests", service_error_code="UnauthorizedOperation"
    )
    stub.add_response(
        "describe_instances", {"Reservations": [{"Instances": [_instance("i-0", "running")]}]}
    )
    stub.add_response("terminate_instances", {}, {"InstanceIds": ["i-0"]})
    stub.add_response("delete_key_pair", {}, {"KeyName": "m"})
    with pytest.raises(DriverError, match="CancelSpotInstanceRequests: UnauthorizedOperation"):
        driver.remove()


def test_removal_of_what_is_gone_is_success(ec2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stub, call, _ = ec2
    driver = _driver(call, monkeypatch, InstanceId="i-0", KeyName="m")
    stub.add_client_error("describe_instances", service_error_code="InvalidInstanceID.NotFound")
    stub.add_client_error("delete_key_pair", service_error_code="InvalidKeyPair.NotFound")
    driver.remove()


def test_a_killed_creates_resources_are_adopted() -> None:
    driver = Driver(EC2Config(MachineName="m"))
    learned = driver.adopt(
        [
            ("key-pair", "m"),
            ("security-group", "sg-1"),
            ("client-token", "machine-abc"),
            ("instance", "i-9"),
        ]
    )
    assert driver.learn(learned)
    cfg = driver.config
    assert (cfg.KeyName, cfg.ExistingKey, cfg.InstanceId, cfg.ClientToken) == (
        "m",
        False,
        "i-9",
        "machine-abc",
    )
    assert cfg.CreatedSecurityGroupIds == ("sg-1",)


def test_credentials_load_but_are_never_written() -> None:
    stored = {
        "MachineName": "m",
        "AccessKey": "AKIAEXAMPLE",
        "SecretKey": "secret",
        "Region": "eu-west-1",
    }
    driver = Driver.from_json(stored)
    assert isinstance(driver, Driver)
    assert driver._target().secret_key == "secret"  # used, as docker-machine's config says
    out = driver.to_json()
    assert out["AccessKey"] == out["SecretKey"] == out["SessionToken"] == ""
    assert out["Region"] == "eu-west-1"
    assert "secret" not in json.dumps(out)


def test_user_data_carries_the_host_key_and_merges_the_users(tmp_path: Any) -> None:
    from machine.driver import CreateRequest
    from machine.tls import certs

    extra = tmp_path / "user-data.sh"
    extra.write_text("#!/bin/sh\necho hello > /tmp/hello\n")
    driver = Driver(EC2Config(MachineName="m", UserDataFile=str(extra)))
    host_private, host_public = certs.ssh_keypair()
    data = driver._user_data(
        CreateRequest(
            tmp_path,
            tmp_path / "id_rsa",
            "ssh-ed25519 AAAA login",
            2376,
            host_key_private=host_private.decode(),
            host_key_public=host_public,
        ),
        "ssh-ed25519 AAAA login",
    )
    message = email.message_from_bytes(data)
    parts = {p.get_content_type(): p.get_payload() for p in message.walk() if not p.is_multipart()}
    assert set(parts) == {"text/cloud-config", "text/x-shellscript"}
    config = json.loads(str(parts["text/cloud-config"]).split("\n", 1)[1])
    assert config["ssh_keys"]["ed25519_public"].strip() == host_public
    assert config["users"][1]["name"] == "ubuntu"
    assert config["users"][1]["ssh_authorized_keys"] == ["ssh-ed25519 AAAA login"]
    assert "echo hello" in str(parts["text/x-shellscript"])


def test_tags_mark_the_store_and_the_machine() -> None:
    driver = Driver(EC2Config(MachineName="m", Tags="team,ci,cost,42"))
    assert driver._tags("store-1") == [
        {"Key": "Name", "Value": "m"},
        {"Key": "machine:store", "Value": "store-1"},
        {"Key": "machine:name", "Value": "m"},
        {"Key": "team", "Value": "ci"},
        {"Key": "cost", "Value": "42"},
    ]


def test_the_default_ami_is_the_current_ubuntu_lts_for_the_architecture() -> None:
    from machine_driver_amazonec2 import ami

    clients = {
        s: boto3.client(
            s, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
        )
        for s in ("ec2", "ssm")
    }
    ec2_stub, ssm_stub = Stubber(clients["ec2"]), Stubber(clients["ssm"])
    ec2_stub.add_response(
        "describe_instance_types",
        {"InstanceTypes": [{"ProcessorInfo": {"SupportedArchitectures": ["arm64"]}}]},
        {"InstanceTypes": ["t4g.small"]},
    )
    name = "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id"
    ssm_stub.add_response(
        "get_parameter", {"Parameter": {"Name": name, "Value": "ami-0abc"}}, {"Name": name}
    )
    # no ssm:GetParameter permission: the error names the parameter and the flag
    ec2_stub.add_response(
        "describe_instance_types",
        {"InstanceTypes": [{"ProcessorInfo": {"SupportedArchitectures": ["i386", "x86_64"]}}]},
    )
    ssm_stub.add_client_error("get_parameter", service_error_code="AccessDeniedException")
    policy = api.RetryPolicy(retries=0)
    with ec2_stub, ssm_stub:
        ec2, ssm = api.Api(clients["ec2"], policy), api.Api(clients["ssm"], policy)
        assert ami.default_ami(ec2, ssm, "t4g.small") == "ami-0abc"
        with pytest.raises(PreCreateCheckFailed) as caught:
            ami.default_ami(ec2, ssm, "t3.micro")
    assert "amd64/hvm/ebs-gp3/ami-id" in caught.value.message
    assert "--amazonec2-ami" in caught.value.hint
    assert caught.value.exit_code == 3


def test_a_retried_launch_carries_the_same_client_token(
    ec2: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """RunInstances retried after throttling (or a lost answer) cannot start a second
    instance: every attempt carries the one token, recorded before the first."""
    from machine.driver import CreateRequest

    stub, call, sleeps = ec2
    driver = _driver(
        call,
        monkeypatch,
        AMI="ami-1",
        SubnetId="subnet-1",
        KeyName="m",
        ClientToken="machine-token-1",
    )
    launch = {
        **driver._launch_spec(driver.config),
        "MinCount": 1,
        "MaxCount": 1,
        "UserData": "#cloud-config",
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": []},
            {"ResourceType": "volume", "Tags": []},
        ],
        "ClientToken": "machine-token-1",
    }
    throttled(stub, "run_instances", 2, launch)  # each attempt is checked for the token
    stub.add_response("run_instances", {"Instances": [{"InstanceId": "i-1"}]}, launch)
    recorded: list[tuple[str, str]] = []
    request = CreateRequest(
        tmp_path, tmp_path / "k", "", 2376, record=lambda k, i: recorded.append((k, i))
    )
    ids = driver._launch(call, driver.config, b"#cloud-config", [], request)
    assert ids == {"InstanceId": "i-1"}
    assert len(sleeps) == 2 and recorded == [("instance", "i-1")]


def test_the_default_vpc_is_read_from_its_attribute_only(ec2: Any) -> None:
    from machine_driver_amazonec2 import _default_vpc

    stub, call, _ = ec2
    # an EC2-compatible endpoint that answers every attribute, whatever was asked
    every = [
        ("vpc-max-security-groups-per-interface", ["5"]),
        ("supported-platforms", ["EC2", "VPC"]),
        ("default-vpc", ["vpc-0abc"]),
        ("max-elastic-ips", ["5"]),
    ]
    stub.add_response(
        "describe_account_attributes",
        {
            "AccountAttributes": [
                {"AttributeName": n, "AttributeValues": [{"AttributeValue": v} for v in vs]}
                for n, vs in every
            ]
        },
    )
    assert _default_vpc(call) == "vpc-0abc"


def test_a_default_vpc_attribute_of_none_falls_back_to_the_vpc_marked_default(ec2: Any) -> None:
    from machine_driver_amazonec2 import _default_vpc

    stub, call, _ = ec2
    stub.add_response(
        "describe_account_attributes",
        {
            "AccountAttributes": [
                {"AttributeName": "max-instances", "AttributeValues": [{"AttributeValue": "20"}]},
                {"AttributeName": "default-vpc", "AttributeValues": [{"AttributeValue": "none"}]},
            ]
        },
    )
    stub.add_response(
        "describe_vpcs",
        {"Vpcs": [{"VpcId": "vpc-0def", "IsDefault": True}]},
        {"Filters": [{"Name": "isDefault", "Values": ["true"]}]},
    )
    assert _default_vpc(call) == "vpc-0def"
