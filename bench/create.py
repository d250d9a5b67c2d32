"""create -> engine answering, by phase, on a local test host with the engine preinstalled.

Goal (issue 2): the provisioning phase takes <= 3 s. Needs root (boots a systemd-nspawn host).
Run: .venv/bin/python bench/create.py [runs]
"""

from __future__ import annotations

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
from machine.progress import Progress
from machine.registry import Registry
from machine.store.filestore import Store
from machine.tls import certs
from testbed.hosts import TestHost

PROVISION_PHASES = (
    "Detecting the provisioner...",
    "Provisioning with debian...",
    "Copying certs to the remote machine...",
    "Setting Docker configuration on the remote daemon...",
    "Checking connection to Docker...",
)


def main(runs: int) -> None:
    private_docker_config()
    host = TestHost(name="mt-bench", index=249)
    with tempfile.TemporaryDirectory() as tmp:
        private, public = certs.ssh_keypair()
        key = Path(tmp, "key")
        key.write_bytes(private)
        key.chmod(0o600)
        host.boot(public)
        phases: dict[str, list[float]] = defaultdict(list)
        totals: list[float] = []
        try:
            for i in range(runs):
                ctx = opcontext.Context(
                    Store(Path(tmp, f"store{i}")), Registry(), Progress(quiet=True)
                )
                opts = opcreate.CreateOptions(
                    name="bench",
                    driver="generic",
                    driver_values={"IPAddress": host.ip, "SSHKey": str(key)},
                )
                start = time.perf_counter()
                opcreate.create(ctx, opts)
                totals.append(time.perf_counter() - start)
                for message, seconds in ctx.progress.timings:
                    phases[message].append(seconds)
        finally:
            host.cleanup()
    print(f"create -> engine answering, generic driver, engine preinstalled ({runs} runs, median)")
    for message, values in phases.items():
        print(f"  {message:<55} {statistics.median(values) * 1000:8.0f} ms")
    provisioning = statistics.median(
        [sum(phases[m][i] for m in PROVISION_PHASES if m in phases) for i in range(runs)]
    )
    verdict = "ok" if provisioning <= 3.0 else "OVER BUDGET (goal 3 s)"
    print(
        f"  {'provisioning phase (detect .. engine answering)':<55} "
        f"{provisioning * 1000:8.0f} ms  {verdict}"
    )
    print(f"  {'total':<55} {statistics.median(totals) * 1000:8.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
