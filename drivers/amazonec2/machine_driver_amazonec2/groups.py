"""Security groups: find or create them by name in the VPC, open only the ports missing.

Several creates at once share a group (docker-machine's default "docker-machine" is one group
per VPC): a lost race to create it, or to open a port, is an answer, not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from machine_driver_amazonec2.api import Api, ApiError

DESCRIPTION = "Docker Machine"  # docker-machine's, so its groups and ours look alike
NOT_FOUND_YET = frozenset({"InvalidGroup.NotFound", "InvalidGroupId.NotFound"})


@dataclass(frozen=True)
class Port:
    number: int
    protocol: str = "tcp"

    @classmethod
    def parse(cls, text: str) -> Port:
        """`port[/protocol]`, as docker-machine's --amazonec2-open-port."""
        number, _, protocol = text.partition("/")
        protocol = (protocol or "tcp").lower()
        if not number.isdigit() or not 0 < int(number) < 65536 or protocol not in ("tcp", "udp"):
            raise ValueError(f"{text!r} is not a port: use PORT or PORT/tcp or PORT/udp")
        return cls(int(number), protocol)


def ensure(
    ec2: Api,
    names: Sequence[str],
    vpc_id: str,
    ports: Sequence[Port],
    cidrs: Sequence[str],
    tags: list[dict[str, str]],
    made: Callable[[str], None],
    open_ports: bool,
) -> list[str]:
    """The ids of the named groups (created when missing, `made(id)` called at once for each
    one created), with `ports` open to `cidrs` unless open_ports is False (read-only groups)."""
    ids = []
    for name in names:
        group = _find(ec2, name, vpc_id)
        if group is None:
            group = _create(ec2, name, vpc_id, tags, made)
        ids.append(group["GroupId"])
        if open_ports:
            _open(ec2, group, ports, cidrs)
    return ids


def _find(ec2: Api, name: str, vpc_id: str) -> dict[str, Any] | None:
    found = ec2(
        "DescribeSecurityGroups",
        Filters=[
            {"Name": "group-name", "Values": [name]},
            {"Name": "vpc-id", "Values": [vpc_id]},
        ],
    ).get("SecurityGroups", [])
    return dict(found[0]) if found else None


def _create(
    ec2: Api, name: str, vpc_id: str, tags: list[dict[str, str]], made: Callable[[str], None]
) -> dict[str, Any]:
    try:
        answer = ec2(
            "CreateSecurityGroup",
            GroupName=name,
            Description=DESCRIPTION,
            VpcId=vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
        )
    except ApiError as exc:
        if exc.code != "InvalidGroup.Duplicate":
            raise
        # another create made it a moment ago: use theirs (visible soon, if not yet)
        for _ in range(10):
            group = _find(ec2, name, vpc_id)
            if group is not None:
                return group
            ec2.policy.sleep(1.0)
        raise
    made(answer["GroupId"])
    return {"GroupId": answer["GroupId"], "IpPermissions": []}


def _open(ec2: Api, group: dict[str, Any], ports: Sequence[Port], cidrs: Sequence[str]) -> None:
    present = set()
    for perm in group.get("IpPermissions", []):
        for ip_range in perm.get("IpRanges", []):
            present.add(
                (
                    perm.get("FromPort"),
                    perm.get("ToPort"),
                    perm.get("IpProtocol"),
                    ip_range.get("CidrIp"),
                )
            )
    missing = [
        {
            "IpProtocol": port.protocol,
            "FromPort": port.number,
            "ToPort": port.number,
            "IpRanges": [{"CidrIp": cidr}],
        }
        for port in dict.fromkeys(ports)
        for cidr in cidrs
        if (port.number, port.number, port.protocol, cidr) not in present
    ]
    for perm in missing:  # one at a time: a duplicate from a parallel create fails only itself
        try:
            ec2(
                "AuthorizeSecurityGroupIngress",
                GroupId=group["GroupId"],
                IpPermissions=[perm],
                retry_codes=NOT_FOUND_YET,
            )
        except ApiError as exc:
            if exc.code != "InvalidPermission.Duplicate":
                raise


LIVE = ["pending", "running", "shutting-down", "stopping", "stopped"]


def groups_of(instance: dict[str, Any]) -> set[str]:
    """Every group an instance uses: its own list, and each network interface's (EC2-compatible
    APIs fill only one of them when groups were given on the interface)."""
    ids = {g["GroupId"] for g in instance.get("SecurityGroups", [])}
    for nic in instance.get("NetworkInterfaces", []):
        ids.update(g["GroupId"] for g in nic.get("Groups", []))
    return ids


def groups_in_use(ec2: Api, vpc_id: str = "") -> set[str]:
    filters = [{"Name": "instance-state-name", "Values": LIVE}]
    if vpc_id:
        filters.append({"Name": "vpc-id", "Values": [vpc_id]})
    used: set[str] = set()
    for reservation in ec2.pages("DescribeInstances", "Reservations", Filters=filters):
        for instance in reservation.get("Instances", []):
            used |= groups_of(instance)
    return used


def delete_if_unused(ec2: Api, group_id: str, vpc_id: str) -> bool:
    """Delete a group no instance uses any more; False if one does (or it is gone already)."""
    if group_id in groups_in_use(ec2, vpc_id):
        return False
    try:
        ec2("DeleteSecurityGroup", GroupId=group_id)
    except ApiError as exc:
        if exc.code in NOT_FOUND_YET:
            return True
        if exc.code == "DependencyViolation":
            return False
        raise
    return True
