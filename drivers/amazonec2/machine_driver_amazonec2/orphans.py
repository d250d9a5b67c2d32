"""What this store made in EC2 and no machine owns any more: instances, spot requests, key pairs
and security groups tagged with the store's identity.

A machine's own resources (its config, and what its journal recorded when a create was cut
short: the core adopts those first) are owned. A security group counts as owned while any
instance uses it, since groups are shared between machines.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from machine.driver import Orphan

if TYPE_CHECKING:
    from machine_driver_amazonec2 import Driver

from machine_driver_amazonec2.groups import LIVE


def _targets(mine: Sequence[Driver]) -> dict[Any, None]:
    from machine_driver_amazonec2.api import Target

    targets: dict[Any, None] = {d._target(): None for d in mine}
    # and where a create would go now, for a store whose machines are all gone
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    targets[Target(region=region, endpoint=os.environ.get("AWS_ENDPOINT", ""))] = None
    return targets


def find(mine: Sequence[Driver], store_id: str) -> list[Orphan]:
    from machine_driver_amazonec2 import TAG_NAME, TAG_STORE
    from machine_driver_amazonec2.api import RetryPolicy, client
    from machine_driver_amazonec2.groups import groups_of

    owned_instances = {d.config.InstanceId for d in mine if d.config.InstanceId}
    owned_tokens = {d.config.ClientToken for d in mine if d.config.ClientToken}
    owned_spots = {d.config.SpotInstanceRequestId for d in mine if d.config.SpotInstanceRequestId}
    owned_keys = {d.config.KeyName for d in mine if d.config.KeyName}
    ours = [{"Name": f"tag:{TAG_STORE}", "Values": [store_id]}]
    found: list[Orphan] = []
    for target in _targets(mine):
        ec2 = client(target, "ec2", RetryPolicy())
        where, ref = target.region, target.endpoint

        def tag(item: dict[str, Any], key: str = TAG_NAME) -> str:
            return next((t["Value"] for t in item.get("Tags", []) if t["Key"] == key), "")

        in_use: set[str] = set()
        for reservation in ec2.pages(
            "DescribeInstances",
            "Reservations",
            Filters=[{"Name": "instance-state-name", "Values": LIVE}],
        ):
            for inst in reservation.get("Instances", []):
                in_use |= groups_of(inst)
                if tag(inst, TAG_STORE) != store_id:
                    continue
                if inst["InstanceId"] in owned_instances or inst.get("ClientToken") in owned_tokens:
                    continue
                found.append(
                    Orphan(
                        "instance", inst["InstanceId"], where, tag(inst), inst["State"]["Name"], ref
                    )
                )
        for spot in ec2.pages(
            "DescribeSpotInstanceRequests",
            "SpotInstanceRequests",
            Filters=[*ours, {"Name": "state", "Values": ["open", "active"]}],
        ):
            if spot["SpotInstanceRequestId"] not in owned_spots:
                found.append(
                    Orphan(
                        "spot-request",
                        spot["SpotInstanceRequestId"],
                        where,
                        tag(spot),
                        spot["State"],
                        ref,
                    )
                )
        for key in ec2("DescribeKeyPairs", Filters=ours).get("KeyPairs", []):
            if key["KeyName"] not in owned_keys:
                found.append(Orphan("key-pair", key["KeyName"], where, tag(key), "", ref))
        for group in ec2.pages("DescribeSecurityGroups", "SecurityGroups", Filters=ours):
            if group["GroupId"] not in in_use:
                found.append(
                    Orphan(
                        "security-group",
                        group["GroupId"],
                        where,
                        group.get("GroupName", ""),
                        "unused",
                        ref,
                    )
                )
    return found


def remove(orphan: Orphan) -> None:
    from machine_driver_amazonec2 import GONE
    from machine_driver_amazonec2.api import ApiError, RetryPolicy, Target, client

    ec2 = client(Target(region=orphan.where, endpoint=orphan.ref), "ec2", RetryPolicy())
    try:
        if orphan.kind == "instance":
            ec2("TerminateInstances", InstanceIds=[orphan.id])
        elif orphan.kind == "spot-request":
            ec2("CancelSpotInstanceRequests", SpotInstanceRequestIds=[orphan.id])
        elif orphan.kind == "key-pair":
            ec2("DeleteKeyPair", KeyName=orphan.id)
        elif orphan.kind == "security-group":
            ec2("DeleteSecurityGroup", GroupId=orphan.id)
    except ApiError as exc:
        if exc.code in GONE or exc.code.endswith(".NotFound"):
            return
        raise
