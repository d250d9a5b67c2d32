"""The contract suite's backend for `vmwarevsphere` (tests/backend/test_contract.py): vcsim, the
vSphere API simulator, built here (testbed/vcsim.py). Its VMs run as containers of a private
dockerd (`RUN.container`, passed as any user's --vmwarevsphere-cfgparam): the smallest guest,
busybox, gives the VM an address on the tests' own bridge."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def backend(tmp: Path) -> Iterator[dict[str, Any]]:
    from testbed import vcsim

    with (
        vcsim.dockerd(tmp / "docker") as docker_host,
        vcsim.running(tmp / "vcsim", docker_host=docker_host) as ep,
    ):
        saved = os.environ.get("VSPHERE_PASSWORD")
        os.environ["VSPHERE_PASSWORD"] = ep.password  # as a user gives it on later commands
        try:
            yield {
                "IP": ep.host,
                "Port": ep.port,
                "Username": ep.user,
                "Thumbprint": ep.thumbprint,
                "CfgParams": (vcsim.guest(vcsim.BUSYBOX_IMAGE, "sleep", "3600"),),
            }
        finally:
            if saved is None:
                os.environ.pop("VSPHERE_PASSWORD", None)
            else:
                os.environ["VSPHERE_PASSWORD"] = saved
