"""The contract suite's backend for `amazonec2` (tests/backend/test_contract.py): moto's EC2 (a
simulator, in process), in a subnet of the fenced test range (tests/aws.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def backend(tmp: Path) -> Iterator[dict[str, Any]]:
    from tests import aws

    with aws.running() as ec2:
        saved = {key: os.environ.get(key) for key in ec2.env()}
        os.environ.update(ec2.env())
        try:
            _, subnet = ec2.subnet("10.232.254.0/28")
            yield {"AMI": ec2.ubuntu_ami(), "SubnetId": subnet, "UsePrivateIP": True}
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
