"""machine-os on the vmwarevsphere driver against vcsim (a simulator of the vSphere API, built
here: testbed/vcsim.py): create -> engine answering by phase, and a stopped VM's start ->
engine answering. vcsim runs the VM as a container of a Debian guest with cloud-init and the
engine (testbed/vcsim.py guest_image), so the seed, SSH and provisioning are real; the disk
upload goes to vcsim, which discards it, and no firmware boots: on a real ESXi host the boot
itself adds its own time.

Run: .venv/bin/python bench/vsphere_create.py [runs]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import private_docker_config
from machine.ops import context as opcontext
from machine.ops import create as opcreate
from machine.ops import lifecycle
from machine.progress import Progress
from machine.registry import Registry
from machine.store.filestore import Store
from testbed import images as test_images
from testbed import vcsim


def main(runs: int) -> None:
    private_docker_config()
    test_images.built()  # machine-os, imported as an OVA (converted once, cached)
    phases: dict[str, list[float]] = defaultdict(list)
    starts: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, vcsim.dockerd(Path(tmp, "docker")) as host:
        image, network = vcsim.guest_image(host), vcsim.guest_network(host)
        with vcsim.running(Path(tmp, "vcsim"), docker_host=host) as ep:
            os.environ["VSPHERE_PASSWORD"] = ep.password
            for i in range(runs):
                store = Path(tmp, f"store{i}")
                store.mkdir()
                (store / "cache").symlink_to(test_images.IMAGE_CACHE)
                ctx = opcontext.Context(Store(store), Registry(), Progress(quiet=True))
                name = f"bench{i}"
                opts = opcreate.CreateOptions(
                    name=name,
                    driver="vmwarevsphere",
                    wait_timeout=600,
                    driver_values={
                        "IP": ep.host,
                        "Port": ep.port,
                        "Username": ep.user,
                        "Thumbprint": ep.thumbprint,
                        "CfgParams": (
                            vcsim.guest_param(image, name, network, f"10.234.1.{100 + i}"),
                        ),
                    },
                )
                opcreate.create(ctx, opts)
                for message, seconds in ctx.progress.timings:
                    phases[message].append(seconds)
                lifecycle.stop(ctx, name)
                started = time.perf_counter()
                lifecycle.start(ctx, name)
                starts.append(time.perf_counter() - started)
                lifecycle.remove(ctx, name)
    print(
        f"create -> engine answering, vmwarevsphere on vcsim, machine-os OVA ({runs} runs, median)"
    )
    for message, values in phases.items():
        print(f"  {message:<55} {statistics.median(values):7.1f} s")
    print(f"  {'total':<55} {sum(statistics.median(v) for v in phases.values()):7.1f} s")
    print(f"start of a stopped VM -> engine answering: {statistics.median(starts):.1f} s median")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
