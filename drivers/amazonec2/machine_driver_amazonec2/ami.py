"""The default AMI: the current Ubuntu LTS, as Canonical publishes it in SSM public parameters.

There is no table of AMI ids here: ids go stale (docker-machine's pointed at Ubuntu 16.04 for
years). When the parameter cannot be read (no ssm:GetParameter permission, a partition or an
EC2-compatible cloud without it), the error names the parameter and says to give --amazonec2-ami.
"""

from __future__ import annotations

from machine.driver import PreCreateCheckFailed
from machine_driver_amazonec2.api import Api, ApiError

UBUNTU = "24.04"
PARAMETER = (
    "/aws/service/canonical/ubuntu/server/{release}/stable/current/{arch}/hvm/ebs-gp3/ami-id"
)


def architecture(ec2: Api, instance_type: str) -> str:
    """amd64 or arm64, as Ubuntu names them, for what this instance type runs."""
    try:
        answer = ec2("DescribeInstanceTypes", InstanceTypes=[instance_type])
    except ApiError as exc:
        if exc.code.startswith("InvalidInstanceType"):
            raise PreCreateCheckFailed(
                f"Instance type {instance_type} does not exist in this region",
                hint="Choose another with --amazonec2-instance-type.",
            ) from None
        raise
    types = answer.get("InstanceTypes") or []
    archs = types[0].get("ProcessorInfo", {}).get("SupportedArchitectures", []) if types else []
    return "arm64" if archs and "x86_64" not in archs and "arm64" in archs else "amd64"


def default_ami(ec2: Api, ssm: Api, instance_type: str) -> str:
    name = PARAMETER.format(release=UBUNTU, arch=architecture(ec2, instance_type))
    try:
        value = ssm("GetParameter", Name=name)["Parameter"]["Value"]
    except ApiError as exc:
        raise PreCreateCheckFailed(
            f"Could not look up the current Ubuntu {UBUNTU} AMI ({name}): {exc.message}",
            hint="Give an AMI with --amazonec2-ami.",
        ) from None
    return str(value)
