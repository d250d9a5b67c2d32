"""The `amazonec2` driver: an EC2 instance per machine, for CI fleets that make and drop them
all day.

Flags and the stored config are docker-machine's (`--amazonec2-*`, the same JSON field names),
plus IMDSv2 (`http-tokens`, `http-endpoint`), EBS encryption (`encrypt-ebs-volume`, `kms-key`)
and `allowed-cidr` (who may reach SSH and the engine; docker-machine opened them to the world).

What this driver promises beyond docker-machine's:
- Every resource is recorded in the create journal the moment it exists (the client token even
  before RunInstances answers), so a failed, interrupted or killed create is undone exactly.
- RunInstances carries a client token: a retried call cannot start a second instance.
- Instances, key pairs and groups are tagged at creation with the store's identity, so
  `machine orphans` finds what no machine owns any more.
- The SSH host key travels in the cloud-init user data (merged with --amazonec2-userdata): the
  first SSH contact is already verified.
- Credentials come from boto3's chain (or the flags) and are never written into the store.
- `ls` asks one DescribeInstances per region (and endpoint) for all machines.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from machine.driver import (
    DEFAULT_ENGINE_PORT,
    PRIVATE_FILE,
    BaseConfig,
    CreateRequest,
    DriverError,
    Endpoint,
    Features,
    Learned,
    Orphan,
    PreCreateCheckFailed,
    State,
    attempts,
    flag,
    frozen,
    replace,
    write_atomic,
)
from machine.driver import Driver as BaseDriver

TAG_STORE = "machine:store"  # the store's identity: what `orphans` looks for
TAG_NAME = "machine:name"
USER_DATA_LIMIT = 16384  # bytes, EC2's limit before base64
ADDRESS_WAIT = 300.0  # seconds for running + an address, when the core gave no deadline
GONE = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
STATES = {
    "pending": State.STARTING,
    "running": State.RUNNING,
    "stopping": State.STOPPING,
    "shutting-down": State.STOPPING,
    "stopped": State.STOPPED,
    "terminated": State.ERROR,  # docker-machine's mapping: the machine is no more
}


@frozen
class EC2Config(BaseConfig):
    SSHUser: str = flag(
        "amazonec2-ssh-user", default="ubuntu", env="AWS_SSH_USER", help="SSH username"
    )
    SSHPort: int = flag("amazonec2-ssh-port", default=22, env="AWS_SSH_PORT", help="SSH port")
    AccessKey: str = flag(
        "amazonec2-access-key",
        default="",
        help="AWS access key (else boto3's chain: env, profile, SSO, role)",
    )
    SecretKey: str = flag("amazonec2-secret-key", default="", help="AWS secret key")
    SessionToken: str = flag("amazonec2-session-token", default="", help="AWS session token")
    AMI: str = flag(
        "amazonec2-ami", default="", env="AWS_AMI", help="AMI id (default: the current Ubuntu LTS)"
    )
    Region: str = flag(
        "amazonec2-region", default="us-east-1", env="AWS_DEFAULT_REGION", help="Region"
    )
    VpcId: str = flag("amazonec2-vpc-id", default="", env="AWS_VPC_ID", help="VPC id")
    Zone: str = flag(
        "amazonec2-zone", default="a", env="AWS_ZONE", help="Availability zone letter (a, b, ...)"
    )
    SubnetId: str = flag("amazonec2-subnet-id", default="", env="AWS_SUBNET_ID", help="Subnet id")
    SecurityGroupReadOnly: bool = flag(
        "amazonec2-security-group-readonly",
        default=False,
        env="AWS_SECURITY_GROUP_READONLY",
        help="Use the security groups as they are: open no port",
    )
    SecurityGroupNames: tuple[str, ...] = flag(
        "amazonec2-security-group",
        default=("docker-machine",),
        env="AWS_SECURITY_GROUP",
        help="Security group name (repeat for several)",
    )
    OpenPorts: tuple[str, ...] = flag(
        "amazonec2-open-port", default=(), help="Another port to open: PORT[/tcp|udp] (repeatable)"
    )
    AllowedCidrs: tuple[str, ...] = flag(
        "amazonec2-allowed-cidr",
        default=(),
        env="AWS_ALLOWED_CIDR",
        help="Who may reach SSH, the engine and the open ports (repeatable; default 0.0.0.0/0)",
    )
    Tags: str = flag(
        "amazonec2-tags", default="", env="AWS_TAGS", help="More tags: key1,value1,key2,value2"
    )
    InstanceType: str = flag(
        "amazonec2-instance-type", default="t2.micro", env="AWS_INSTANCE_TYPE", help="Instance type"
    )
    DeviceName: str = flag(
        "amazonec2-device-name", default="/dev/sda1", env="AWS_DEVICE_NAME", help="Root device name"
    )
    RootSize: int = flag(
        "amazonec2-root-size", default=16, env="AWS_ROOT_SIZE", help="Root disk size in GB"
    )
    VolumeType: str = flag(
        "amazonec2-volume-type", default="gp2", env="AWS_VOLUME_TYPE", help="Root volume type"
    )
    EncryptEbsVolume: bool = flag(
        "amazonec2-encrypt-ebs-volume", default=False, help="Encrypt the root volume"
    )
    KmsKeyId: str = flag(
        "amazonec2-kms-key", default="", help="KMS key for the root volume (with encryption)"
    )
    IamInstanceProfile: str = flag(
        "amazonec2-iam-instance-profile",
        default="",
        env="AWS_INSTANCE_PROFILE",
        help="IAM instance profile name",
    )
    RequestSpotInstance: bool = flag(
        "amazonec2-request-spot-instance", default=False, help="Request a spot instance"
    )
    SpotPrice: str = flag(
        "amazonec2-spot-price", default="0.50", help="Highest price for the spot instance"
    )
    BlockDurationMinutes: int = flag(
        "amazonec2-block-duration-minutes",
        default=0,
        help="Spot block duration in minutes (60, 120, ... 360)",
    )
    PrivateIPOnly: bool = flag(
        "amazonec2-private-address-only", default=False, help="No public address"
    )
    UsePrivateIP: bool = flag(
        "amazonec2-use-private-address",
        default=False,
        help="Reach the machine at its private address",
    )
    Monitoring: bool = flag(
        "amazonec2-monitoring", default=False, help="Detailed CloudWatch monitoring"
    )
    UseEbsOptimizedInstance: bool = flag(
        "amazonec2-use-ebs-optimized-instance", default=False, help="EBS-optimized instance"
    )
    SSHPrivateKeyPath: str = flag(
        "amazonec2-ssh-keypath",
        default="",
        env="AWS_SSH_KEYPATH",
        help="Your own SSH private key (its .pub beside it) instead of a new one",
    )
    KeyName: str = flag(
        "amazonec2-keypair-name",
        default="",
        env="AWS_KEYPAIR_NAME",
        help="An existing key pair (needs --amazonec2-ssh-keypath)",
    )
    RetryCount: int = flag(
        "amazonec2-retries", default=5, help="Retries of a throttled or failed API call"
    )
    Endpoint: str = flag(
        "amazonec2-endpoint", default="", env="AWS_ENDPOINT", help="EC2 endpoint URL"
    )
    DisableSSL: bool = flag(
        "amazonec2-insecure-transport",
        default=False,
        env="AWS_INSECURE_TRANSPORT",
        help="Plain HTTP to the endpoint",
    )
    UserDataFile: str = flag(
        "amazonec2-userdata",
        default="",
        env="AWS_USERDATA",
        help="A file of cloud-init user data, merged with the machine's",
    )
    HttpTokens: str = flag(
        "amazonec2-http-tokens",
        default="required",
        help="IMDSv2 tokens: required (IMDSv2 only) or optional",
    )
    HttpEndpoint: str = flag(
        "amazonec2-http-endpoint",
        default="enabled",
        help="The instance metadata service: enabled or disabled",
    )
    # state, set by create
    InstanceId: str = ""
    ExistingKey: bool = False
    SecurityGroupIds: tuple[str, ...] = ()
    CreatedSecurityGroupIds: tuple[str, ...] = ()  # made by this create: removed when unused
    StoreId: str = ""  # the store's identity, as tagged on what this machine made
    PrivateIPAddress: str = ""
    SpotInstanceRequestId: str = ""
    ClientToken: str = ""
    EnginePort: int = DEFAULT_ENGINE_PORT  # opened in the security group; clients reach it


SECRET_FIELDS = ("AccessKey", "SecretKey", "SessionToken")


class Driver(BaseDriver[EC2Config]):
    name = "amazonec2"
    Config = EC2Config
    features = Features(
        provisions_engine=True,
        fresh_host=True,
        makes_ssh_key=True,
        seeds_host_key=True,
    )
    help = "Amazon EC2 instances"
    sdk = ("boto3",)
    extra = "aws"

    def to_json(self) -> dict[str, Any]:
        # Credentials stay out of the store: a config from docker-machine that holds them still
        # loads (and they are used), but what is written back has them empty.
        out = super().to_json()
        for key in SECRET_FIELDS:
            out[key] = ""
        return out

    # --- clients ------------------------------------------------------------------------------

    def _target(self) -> Any:
        from machine_driver_amazonec2.api import Target

        cfg = self.config
        return Target(
            region=cfg.Region,
            endpoint=cfg.Endpoint,
            access_key=cfg.AccessKey,
            secret_key=cfg.SecretKey,
            session_token=cfg.SessionToken,
            insecure=cfg.DisableSSL,
        )

    def _ec2(self, service: str = "ec2") -> Any:
        from machine_driver_amazonec2.api import RetryPolicy, client

        return client(self._target(), service, RetryPolicy(retries=max(0, self.config.RetryCount)))

    # --- create -------------------------------------------------------------------------------

    def pre_create_check(self) -> Learned:
        from machine_driver_amazonec2 import ami, groups
        from machine_driver_amazonec2.api import known_regions

        cfg = self.config
        if len(cfg.Region) > 63 or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", cfg.Region):
            raise PreCreateCheckFailed(f"Invalid region specified: {cfg.Region!r}")
        for option, value, low, high in (
            ("--amazonec2-root-size", cfg.RootSize, 1, 65536),  # GiB, EBS's largest volume
            ("--amazonec2-retries", cfg.RetryCount, 0, 20),
        ):
            if not low <= value <= high:
                raise PreCreateCheckFailed(f"{option} must be from {low} to {high}, not {value}")
        if why := self.ssh_problem(cfg):
            raise PreCreateCheckFailed(f"--amazonec2-ssh-user: {why.split(': ', 1)[1]}")
        if not cfg.Endpoint and cfg.Region not in known_regions():
            raise PreCreateCheckFailed(
                f"Invalid region specified: {cfg.Region}",
                hint="Use an AWS region (us-east-1, eu-west-1, ...), or give --amazonec2-endpoint.",
            )
        for text in cfg.OpenPorts:
            try:
                groups.Port.parse(text)
            except ValueError as exc:
                raise PreCreateCheckFailed(f"--amazonec2-open-port: {exc}") from None
        for cidr in cfg.AllowedCidrs:
            _check_cidr(cidr)
        _tag_pairs(cfg.Tags)  # raises on an odd list
        if cfg.HttpTokens not in ("required", "optional"):
            raise PreCreateCheckFailed("--amazonec2-http-tokens must be required or optional")
        if cfg.HttpEndpoint not in ("enabled", "disabled"):
            raise PreCreateCheckFailed("--amazonec2-http-endpoint must be enabled or disabled")
        if cfg.KeyName and not cfg.SSHPrivateKeyPath:
            raise PreCreateCheckFailed(
                "--amazonec2-keypair-name needs --amazonec2-ssh-keypath "
                "(the key pair's private key)"
            )
        if cfg.SSHPrivateKeyPath:
            key = Path(cfg.SSHPrivateKeyPath).expanduser()
            if not key.is_file() or not key.with_name(key.name + ".pub").is_file():
                raise PreCreateCheckFailed(
                    f"SSH key {key} (and {key.name}.pub beside it) must exist"
                )
        if cfg.UserDataFile and not Path(cfg.UserDataFile).expanduser().is_file():
            raise PreCreateCheckFailed(f"--amazonec2-userdata: no such file {cfg.UserDataFile}")
        if cfg.RequestSpotInstance and cfg.BlockDurationMinutes % 60:
            raise PreCreateCheckFailed(
                "--amazonec2-block-duration-minutes must be 60, 120, ... 360"
            )

        ec2 = self._ec2()
        self._check_key_pair(ec2)
        resolved = self._resolve_network(ec2)
        if not cfg.AMI and cfg.Endpoint:
            # an EC2-compatible cloud has no Canonical SSM parameters (and AWS's SSM must not
            # be asked with its credentials)
            raise PreCreateCheckFailed(
                "With --amazonec2-endpoint, give the image with --amazonec2-ami"
            )
        if not cfg.AMI:
            resolved["AMI"] = ami.default_ami(ec2, self._ec2("ssm"), cfg.InstanceType)
        image_id = resolved.get("AMI", cfg.AMI)
        images = ec2("DescribeImages", ImageIds=[image_id]).get("Images")
        if not images:
            raise PreCreateCheckFailed(f"AMI {image_id} does not exist in {cfg.Region}")
        return resolved  # the image, VPC, zone and subnet the machine will use

    def _check_key_pair(self, ec2: Any) -> None:
        from machine_driver_amazonec2.api import ApiError

        cfg = self.config
        name = cfg.KeyName or cfg.MachineName
        try:
            ec2("DescribeKeyPairs", KeyNames=[name])
            exists = True
        except ApiError as exc:
            if exc.code != "InvalidKeyPair.NotFound":
                raise
            exists = False
        if cfg.KeyName and not exists:
            raise PreCreateCheckFailed(f"There is no keypair with the name {name}")
        if not cfg.KeyName and exists:
            raise PreCreateCheckFailed(
                f"There is already a keypair with the name {name}. Please either remove that "
                "keypair or use a different machine name.",
                hint="If a create of this store left it behind, `machine orphans --remove` "
                "deletes it.",
            )

    def _resolve_network(self, ec2: Any) -> dict[str, Any]:
        """VPC and subnet as docker-machine found them: the default VPC, the zone's subnet."""
        cfg = self.config
        if cfg.SubnetId:
            subnets = ec2("DescribeSubnets", SubnetIds=[cfg.SubnetId]).get("Subnets", [])
            if not subnets:
                raise PreCreateCheckFailed(f"Subnet {cfg.SubnetId} does not exist")
            subnet = subnets[0]
            if cfg.VpcId and subnet["VpcId"] != cfg.VpcId:
                raise PreCreateCheckFailed(
                    f"Subnet {cfg.SubnetId} is not in VPC {cfg.VpcId} (it is in {subnet['VpcId']})"
                )
            zone = subnet["AvailabilityZone"][len(cfg.Region) :] or cfg.Zone
            return {"VpcId": subnet["VpcId"], "Zone": zone}
        vpc = cfg.VpcId or _default_vpc(ec2)
        if not vpc:
            raise PreCreateCheckFailed(
                "No VPC: this account has no default VPC",
                hint="Give --amazonec2-vpc-id or --amazonec2-subnet-id.",
            )
        zone = cfg.Region + cfg.Zone
        subnets = ec2(
            "DescribeSubnets",
            Filters=[
                {"Name": "availability-zone", "Values": [zone]},
                {"Name": "vpc-id", "Values": [vpc]},
            ],
        ).get("Subnets", [])
        if not subnets:
            raise PreCreateCheckFailed(
                f"No subnet in zone {zone} of VPC {vpc}",
                hint="Give --amazonec2-subnet-id, or another --amazonec2-zone.",
            )
        subnets.sort(key=lambda s: not s.get("DefaultForAz", False))
        return {"VpcId": vpc, "SubnetId": subnets[0]["SubnetId"]}

    def create(self, request: CreateRequest) -> Learned:
        from machine_driver_amazonec2 import groups
        from machine_driver_amazonec2.api import ApiError

        chosen = self.config
        ec2 = self._ec2()
        deadline = request.deadline or time.monotonic() + ADDRESS_WAIT
        public_key = self._ssh_key(request)
        tags = self._tags(request.store_id)
        learned: dict[str, Any] = {
            "SSHKeyPath": str(request.ssh_key_path),
            "StoreId": request.store_id,
            "EnginePort": request.engine_port,
        }

        if chosen.KeyName:
            learned["ExistingKey"] = True
        else:
            ec2(
                "ImportKeyPair",
                KeyName=chosen.MachineName,
                PublicKeyMaterial=public_key.encode(),
                TagSpecifications=[{"ResourceType": "key-pair", "Tags": tags}],
            )
            learned["KeyName"] = chosen.MachineName
            request.record("key-pair", chosen.MachineName)

        made = list(chosen.CreatedSecurityGroupIds)

        def made_group(group_id: str) -> None:
            made.append(group_id)
            learned["CreatedSecurityGroupIds"] = tuple(made)
            request.record("security-group", group_id)

        ports = [groups.Port(chosen.SSHPort), groups.Port(request.engine_port)]
        ports += [groups.Port.parse(p) for p in chosen.OpenPorts]
        cidrs = list(chosen.AllowedCidrs) or ["0.0.0.0/0"]
        group_tags = [t for t in tags if t["Key"] != TAG_NAME]  # groups are shared

        def ensure_groups() -> None:
            learned["SecurityGroupIds"] = tuple(
                groups.ensure(
                    ec2,
                    chosen.SecurityGroupNames,
                    chosen.VpcId,
                    ports,
                    cidrs,
                    group_tags,
                    made_group,
                    open_ports=not chosen.SecurityGroupReadOnly,
                )
            )

        ensure_groups()
        user_data = self._user_data(request, public_key)
        # Recorded before the call: if this process dies while RunInstances is in flight, rm
        # still finds the instance by its token.
        learned["ClientToken"] = f"machine-{uuid.uuid4().hex}"
        request.record("client-token", learned["ClientToken"])
        try:
            learned.update(self._launch(ec2, replace(chosen, **learned), user_data, tags, request))
        except ApiError as exc:
            if exc.code not in groups.NOT_FOUND_YET:
                raise
            # a machine's rm deleted the shared group between our lookup and the launch
            ensure_groups()
            learned.update(self._launch(ec2, replace(chosen, **learned), user_data, tags, request))
        learned.update(self._wait_for_address(ec2, replace(chosen, **learned), deadline))
        return learned

    def _ssh_key(self, request: CreateRequest) -> str:
        """The public key for the key pair; a user's own key replaces the one the core made."""
        cfg = self.config
        if not cfg.SSHPrivateKeyPath:
            return request.ssh_public_key
        own = Path(cfg.SSHPrivateKeyPath).expanduser()
        write_atomic(request.ssh_key_path, own.read_bytes(), PRIVATE_FILE)  # 0600 from the start
        public = own.with_name(own.name + ".pub").read_text().strip()
        pub_path = request.ssh_key_path.with_name(request.ssh_key_path.name + ".pub")
        write_atomic(pub_path, public + "\n", PRIVATE_FILE)
        return public

    def _tags(self, store_id: str) -> list[dict[str, str]]:
        tags = [{"Key": "Name", "Value": self.config.MachineName}]
        if store_id:
            tags.append({"Key": TAG_STORE, "Value": store_id})
        tags.append({"Key": TAG_NAME, "Value": self.config.MachineName})
        tags += [{"Key": k, "Value": v} for k, v in _tag_pairs(self.config.Tags)]
        return tags

    def _user_data(self, request: CreateRequest, login_key: str) -> bytes:
        from machine import seed

        cfg = self.config
        extra = Path(cfg.UserDataFile).expanduser().read_text() if cfg.UserDataFile else ""
        data = seed.files(
            seed.Seed(
                hostname=cfg.MachineName,
                user=cfg.SSHUser,
                authorized_key=login_key,
                host_key_private=request.host_key_private,
                host_key_public=request.host_key_public,
                instance_id="",
                extra_user_data=extra,
            )
        )["user-data"]
        if len(data) > USER_DATA_LIMIT:
            raise DriverError(
                f"the user data is {len(data)} bytes; EC2 takes at most {USER_DATA_LIMIT}",
                hint="Shorten the file given with --amazonec2-userdata.",
            )
        return data

    def _launch_spec(self, cfg: EC2Config) -> dict[str, Any]:
        ebs: dict[str, Any] = {
            "VolumeSize": cfg.RootSize,
            "VolumeType": cfg.VolumeType,
            "DeleteOnTermination": True,
        }
        if cfg.EncryptEbsVolume:
            ebs["Encrypted"] = True
            if cfg.KmsKeyId:
                ebs["KmsKeyId"] = cfg.KmsKeyId
        spec: dict[str, Any] = {
            "ImageId": cfg.AMI,
            "InstanceType": cfg.InstanceType,
            "KeyName": cfg.KeyName,
            "Placement": {"AvailabilityZone": cfg.Region + cfg.Zone},
            "NetworkInterfaces": [
                {
                    "DeviceIndex": 0,
                    "SubnetId": cfg.SubnetId,
                    "Groups": list(cfg.SecurityGroupIds),
                    "AssociatePublicIpAddress": not cfg.PrivateIPOnly,
                    "DeleteOnTermination": True,
                }
            ],
            "Monitoring": {"Enabled": cfg.Monitoring},
            "EbsOptimized": cfg.UseEbsOptimizedInstance,
            "BlockDeviceMappings": [{"DeviceName": cfg.DeviceName, "Ebs": ebs}],
        }
        if cfg.IamInstanceProfile:
            spec["IamInstanceProfile"] = {"Name": cfg.IamInstanceProfile}
        return spec

    def _launch(
        self,
        ec2: Any,
        cfg: EC2Config,
        user_data: bytes,
        tags: list[dict[str, str]],
        request: CreateRequest,
    ) -> dict[str, str]:
        """One RunInstances, spot or not: the client token makes it idempotent, and tags, IMDS
        options and the network interface apply at launch (a spot market option rather than
        docker-machine's RequestSpotInstances, which did none of that). The instance's ids."""
        params = self._launch_spec(cfg)
        tag_specs = [
            {"ResourceType": "instance", "Tags": tags},
            {"ResourceType": "volume", "Tags": tags},
        ]
        if cfg.RequestSpotInstance:
            spot: dict[str, Any] = {
                "MaxPrice": cfg.SpotPrice,
                "SpotInstanceType": "one-time",
                "InstanceInterruptionBehavior": "terminate",
            }
            if cfg.BlockDurationMinutes:
                spot["BlockDurationMinutes"] = cfg.BlockDurationMinutes
            params["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": spot}
            tag_specs.append({"ResourceType": "spot-instances-request", "Tags": tags})
        answer = ec2(
            "RunInstances",
            **params,
            MinCount=1,
            MaxCount=1,
            UserData=user_data.decode(),  # boto3 encodes it (base64) for RunInstances
            MetadataOptions={"HttpTokens": cfg.HttpTokens, "HttpEndpoint": cfg.HttpEndpoint},
            TagSpecifications=tag_specs,
            ClientToken=cfg.ClientToken,
        )
        instance = answer["Instances"][0]
        ids = {"InstanceId": str(instance["InstanceId"])}
        request.record("instance", ids["InstanceId"])
        if instance.get("SpotInstanceRequestId"):
            ids["SpotInstanceRequestId"] = str(instance["SpotInstanceRequestId"])
            request.record("spot-request", ids["SpotInstanceRequestId"])
        return ids

    def _wait_for_address(self, ec2: Any, cfg: EC2Config, deadline: float) -> dict[str, str]:
        """The instance's addresses, once it runs and has the one we reach it at."""
        state = ""
        for _ in attempts(deadline, first=2.0, factor=1.0, sleep=ec2.policy.sleep):
            instance = self._describe(ec2, cfg.InstanceId)
            state = (instance or {}).get("State", {}).get("Name", "")
            if instance is not None and state == "running":
                private_ip = instance.get("PrivateIpAddress", "") or ""
                public = instance.get("PublicIpAddress", "") or ""
                private = cfg.PrivateIPOnly or cfg.UsePrivateIP
                ip = private_ip if private else public
                if ip:
                    return {"PrivateIPAddress": private_ip, "IPAddress": ip}
            if state in ("shutting-down", "terminated", "stopped", "stopping"):
                reason = (instance or {}).get("StateReason", {}).get("Message", "")
                raise DriverError(f"instance {cfg.InstanceId} is {state}: {reason}".rstrip(": "))
        raise DriverError(
            f"instance {cfg.InstanceId} has no address yet (it is {state or 'unknown'})",
            hint="Without a public address, use --amazonec2-use-private-address "
            "from inside the VPC.",
        )

    def _describe(
        self, ec2: Any, instance_id: str, just_made: bool = True
    ) -> dict[str, Any] | None:
        """The instance. Just made, an unknown id is waited out (EC2 is eventually consistent);
        otherwise an unknown id means it is gone (None)."""
        from machine_driver_amazonec2.api import ApiError

        try:
            answer = ec2(
                "DescribeInstances",
                InstanceIds=[instance_id],
                retry_codes=frozenset({"InvalidInstanceID.NotFound"}) if just_made else frozenset(),
            )
        except ApiError as exc:
            if just_made or exc.code not in GONE:
                raise
            return None
        for reservation in answer.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                return dict(instance)
        return None

    # --- the machine ------------------------------------------------------------------------

    def endpoint(self) -> Endpoint:
        cfg = self.config
        return Endpoint(
            cfg.IPAddress,
            cfg.IPAddress,
            cfg.SSHPort or 22,
            cfg.SSHUser,
            cfg.SSHKeyPath,
            cfg.EnginePort,
        )

    def url(self) -> str:
        return self.endpoint().docker_url if self.config.IPAddress else ""

    def state(self) -> State:
        return self.states([self])[0]

    @classmethod
    def states(cls, drivers: Sequence[BaseDriver]) -> list[State]:
        """One DescribeInstances (per 200 machines) for each region and endpoint, not one per
        machine: an `ls` of a fleet costs what one machine's does."""
        out: dict[int, State] = {}
        by_target: dict[Any, list[tuple[int, Driver]]] = {}
        for i, d in enumerate(drivers):
            assert isinstance(d, Driver)
            if not d.config.InstanceId:
                out[i] = State.NONE  # a create that never got as far as an instance
                continue
            by_target.setdefault(d._target(), []).append((i, d))
        for group in by_target.values():
            ec2 = group[0][1]._ec2()
            found: dict[str, str] = {}
            ids = [d.config.InstanceId for _, d in group]
            for start in range(0, len(ids), 200):  # EC2 takes up to 200 values per filter
                chunk = ids[start : start + 200]
                for reservation in ec2.pages(
                    "DescribeInstances",
                    "Reservations",
                    Filters=[{"Name": "instance-id", "Values": chunk}],
                ):
                    for instance in reservation.get("Instances", []):
                        found[instance["InstanceId"]] = instance["State"]["Name"]
            for i, d in group:
                name = found.get(d.config.InstanceId)
                out[i] = STATES.get(name, State.NONE) if name else State.NOT_FOUND
        return [out[i] for i in range(len(drivers))]

    def start(self) -> Learned:
        ec2 = self._ec2()
        ec2("StartInstances", InstanceIds=[self.config.InstanceId])
        # the public IP is new
        return self._wait_for_address(ec2, self.config, time.monotonic() + ADDRESS_WAIT)

    def stop(self) -> None:
        self._ec2()("StopInstances", InstanceIds=[self.config.InstanceId], Force=False)

    def kill(self) -> None:
        self._ec2()("StopInstances", InstanceIds=[self.config.InstanceId], Force=True)

    def restart(self) -> None:
        self._ec2()("RebootInstances", InstanceIds=[self.config.InstanceId])

    # --- removal ------------------------------------------------------------------------------

    def adopt(self, resources: Sequence[tuple[str, str]]) -> Learned:
        cfg = self.config
        learned: dict[str, Any] = {}
        made = list(cfg.CreatedSecurityGroupIds)
        for kind, ident in resources:
            if kind == "instance" and not cfg.InstanceId:
                learned["InstanceId"] = ident
            elif kind == "spot-request" and not cfg.SpotInstanceRequestId:
                learned["SpotInstanceRequestId"] = ident
            elif kind == "key-pair" and not cfg.KeyName:
                learned["KeyName"], learned["ExistingKey"] = ident, False
            elif kind == "security-group" and ident not in made:
                made.append(ident)
                learned["CreatedSecurityGroupIds"] = tuple(made)
            elif kind == "client-token" and not cfg.ClientToken:
                learned["ClientToken"] = ident
        return learned

    def remove(self) -> None:
        """Terminate the instance, cancel its spot request, delete its key pair and the groups
        this create made once nothing uses them. Whatever is gone already is success."""
        from machine_driver_amazonec2.api import ApiError

        cfg = self.config
        ec2 = self._ec2()
        problems: list[str] = []
        if not cfg.InstanceId and cfg.ClientToken:
            cfg = replace(cfg, InstanceId=self._instance_by_token(ec2))
        if cfg.SpotInstanceRequestId:
            try:
                ec2(
                    "CancelSpotInstanceRequests", SpotInstanceRequestIds=[cfg.SpotInstanceRequestId]
                )
            except ApiError as exc:
                if exc.code != "InvalidSpotInstanceRequestID.NotFound":
                    problems.append(exc.message)
        instance = self._describe(ec2, cfg.InstanceId, just_made=False) if cfg.InstanceId else None
        if instance is not None and instance["State"]["Name"] != "terminated":
            try:
                ec2("TerminateInstances", InstanceIds=[cfg.InstanceId])
            except ApiError as exc:
                if exc.code not in GONE:
                    problems.append(exc.message)
        if cfg.KeyName and not cfg.ExistingKey:
            try:
                ec2("DeleteKeyPair", KeyName=cfg.KeyName)
            except ApiError as exc:
                if exc.code != "InvalidKeyPair.NotFound":
                    problems.append(exc.message)
        ours = self._groups_of_this_store(ec2) if not problems else []
        if ours:
            self._remove_groups(ec2, cfg, ours)  # a group still in use stays, with its user
        if problems:
            raise DriverError("; ".join(problems))

    def _groups_of_this_store(self, ec2: Any) -> list[str]:
        """The groups to remove once unused: those this create made, and the machine's groups
        tagged as made by this store (shared ones: the last machine to go takes them along).
        A group the user named and made is never ours."""
        cfg = self.config
        ours = list(cfg.CreatedSecurityGroupIds)
        others = [g for g in cfg.SecurityGroupIds if g not in ours]
        if others and cfg.StoreId:
            for group in ec2.pages(
                "DescribeSecurityGroups",
                "SecurityGroups",
                Filters=[
                    {"Name": "group-id", "Values": others},
                    {"Name": f"tag:{TAG_STORE}", "Values": [cfg.StoreId]},
                ],
            ):
                ours.append(group["GroupId"])
        return ours

    def _remove_groups(self, ec2: Any, cfg: EC2Config, candidates: list[str]) -> list[str]:
        """Delete the groups no other instance uses; the ones kept. EC2 refuses while our own
        instance is still shutting down, so wait for it (briefly) first."""
        from machine_driver_amazonec2 import groups

        if cfg.InstanceId:
            deadline = time.monotonic() + 180
            for _ in attempts(deadline, first=3.0, factor=1.0, sleep=ec2.policy.sleep):
                instance = self._describe(ec2, cfg.InstanceId, just_made=False)
                if instance is None or instance["State"]["Name"] == "terminated":
                    break
        kept = []
        for group_id in candidates:
            if not groups.delete_if_unused(ec2, group_id, cfg.VpcId):
                kept.append(group_id)  # another machine's instance uses it
        return kept

    def _instance_by_token(self, ec2: Any) -> str:
        """The instance a RunInstances with our client token made (its answer was lost). Looked
        up by the launch tag, matched on the token: exact, and works where EC2-compatible APIs
        lack the client-token filter."""
        for reservation in ec2.pages(
            "DescribeInstances",
            "Reservations",
            Filters=[{"Name": f"tag:{TAG_NAME}", "Values": [self.config.MachineName]}],
        ):
            for instance in reservation.get("Instances", []):
                if instance.get("ClientToken") == self.config.ClientToken:
                    return str(instance["InstanceId"])
        return ""

    # --- orphans ------------------------------------------------------------------------------

    @classmethod
    def orphans(cls, owned: Sequence[BaseDriver], store_id: str) -> list[Orphan]:
        from machine_driver_amazonec2 import orphans

        mine = [d for d in owned if isinstance(d, Driver)]
        return orphans.find(mine, store_id)

    @classmethod
    def remove_orphan(cls, orphan: Orphan) -> None:
        from machine_driver_amazonec2 import orphans

        orphans.remove(orphan)


def _tag_pairs(text: str) -> list[tuple[str, str]]:
    if not text:
        return []
    parts = text.split(",")
    if len(parts) % 2:
        raise PreCreateCheckFailed(
            f"--amazonec2-tags takes key,value pairs (key1,value1,key2,value2), not {text!r}"
        )
    pairs = list(zip(parts[::2], parts[1::2], strict=True))
    for key, _ in pairs:
        if key.lower().startswith("aws:") or key.startswith("machine:"):
            raise PreCreateCheckFailed(f"--amazonec2-tags: the tag key {key!r} is reserved")
    return pairs


def _check_cidr(cidr: str) -> None:
    import ipaddress

    try:
        ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        raise PreCreateCheckFailed(
            f"--amazonec2-allowed-cidr: {cidr!r} is not a network (like 203.0.113.0/24)"
        ) from None
    if ":" in cidr:
        raise PreCreateCheckFailed("--amazonec2-allowed-cidr takes IPv4 networks only")


def _default_vpc(ec2: Any) -> str:
    """The account's default VPC: its `default-vpc` attribute (only that one: an EC2-compatible
    endpoint may answer every attribute whatever was asked), else the VPC marked default (the
    attribute can say `none` while one exists: moto, and accounts whose attribute lags)."""
    attrs = ec2("DescribeAccountAttributes", AttributeNames=["default-vpc"])
    for attr in attrs.get("AccountAttributes", []):
        if attr.get("AttributeName") != "default-vpc":
            continue
        for value in attr.get("AttributeValues", []):
            vpc = str(value.get("AttributeValue", "none"))
            if vpc != "none":
                return vpc
    vpcs = ec2("DescribeVpcs", Filters=[{"Name": "isDefault", "Values": ["true"]}]).get("Vpcs", [])
    return str(vpcs[0]["VpcId"]) if vpcs else ""
