"""machine-os on the kvm driver: image size, create → engine answering by phase, and a stopped
VM's start → engine answering (boot, DHCP, sshd, engine), under this host's acceleration.

Needs root: it starts libvirtd in its own network namespace (testbed/libvirt.py) and runs
inside it. Run: .venv/bin/python bench/kvm.py [runs]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import private_docker_config
from machine.images import osimage
from machine.images.cache import Cache, Digest
from machine.ops import context as opcontext
from machine.ops import create as opcreate
from machine.ops import lifecycle
from machine.progress import Progress
from machine.registry import Registry
from machine.store.filestore import Store
from testbed import libvirt as libvirt_host
from testbed.hosts import CACHE

IMAGE_CACHE = CACHE / "kvm-cache"


def main(runs: int) -> None:
    private_docker_config()
    cache = Cache(IMAGE_CACHE)
    manifest = cache.manifest(osimage.NAME)
    if manifest is None or manifest.get("recipe") != osimage.recipe_digest():
        manifest = osimage.build(cache)
    sizes = {
        k: cache.blob(Digest.parse(manifest[k])).stat().st_size
        for k in ("disk", "kernel", "initrd")
    }
    print(
        f"machine-os: disk {sizes['disk'] >> 20} MiB (qcow2), kernel {sizes['kernel'] >> 20} "
        f"MiB, initrd {sizes['initrd'] >> 20} MiB"
    )
    phases: dict[str, list[float]] = defaultdict(list)
    starts: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            store = Path(tmp, f"store{i}")
            store.mkdir()
            (store / "cache").symlink_to(IMAGE_CACHE)
            ctx = opcontext.Context(Store(store), Registry(), Progress(quiet=True))
            opts = opcreate.CreateOptions(
                name=f"bench{i}",
                driver="kvm",
                wait_timeout=900,
                driver_values={
                    "CPU": 2,
                    "Network": libvirt_host.NETWORK,
                    "connectionString": libvirt_host.URI,
                },
            )
            opcreate.create(ctx, opts)
            for message, seconds in ctx.progress.timings:
                phases[message].append(seconds)
            lifecycle.stop(ctx, f"bench{i}")
            started = time.perf_counter()
            lifecycle.start(ctx, f"bench{i}")
            starts.append(time.perf_counter() - started)
            lifecycle.remove(ctx, f"bench{i}")
    accel = (
        "software emulation (TCG)" if not os.access("/dev/kvm", os.W_OK) else "see create's note"
    )
    print(f"create -> engine answering, kvm driver, machine-os ({runs} runs, median; {accel})")
    for message, values in phases.items():
        print(f"  {message:<55} {statistics.median(values):7.1f} s")
    print(f"  {'total':<55} {sum(statistics.median(v) for v in phases.values()):7.1f} s")
    print(
        f"start of a stopped VM -> engine answering (boot to sshd and the engine): "
        f"{statistics.median(starts):.1f} s median"
    )


if __name__ == "__main__":
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    if os.environ.get("MACHINE_BENCH_INSIDE") != "1":
        # build (or find) machine-os out here: the namespace has no route to the apt mirror
        cache = Cache(IMAGE_CACHE)
        built = cache.manifest(osimage.NAME)
        if built is None or built.get("recipe") != osimage.recipe_digest():
            osimage.build(cache)
        libvirt_host.start()
        try:
            code = subprocess.call(
                libvirt_host.in_netns([sys.executable, __file__, str(runs)]),
                env={**os.environ, "MACHINE_BENCH_INSIDE": "1"},
            )
        finally:
            libvirt_host.stop()
        sys.exit(code)
    main(runs)
