"""`machine ls` of 50 vmwarevsphere machines against vcsim (a simulator of the vSphere API,
built here: testbed/vcsim.py), through the test proxy that counts calls: the SOAP calls per
`ls` (goal: one login and one property collection per vCenter) and its wall time; and the
states of those 50 asked the way docker-machine did (a login per machine) against the batch.

Run: .venv/bin/python bench/vsphere_ls.py [runs]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import MACHINE
from testbed import vcsim
from tests import vsphere

COUNT = 50


def main(runs: int) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        vcsim.running(Path(tmp, "vcsim")) as ep,
        vsphere.proxied(ep, Path(tmp, "proxy")) as proxy,
    ):
        store = Path(tmp, "store")
        vsphere.machine_records(store, ep, COUNT, port=proxy.endpoint.port)
        env = {
            "PATH": os.environ["PATH"],
            "MACHINE_STORAGE_PATH": str(store),
            "VSPHERE_THUMBPRINT": proxy.endpoint.thumbprint,
        }
        times, calls = [], []
        for _ in range(runs):
            proxy.reset()
            start = time.perf_counter()
            out = subprocess.run(
                [MACHINE, "ls"], env=env, check=True, capture_output=True, text=True
            ).stdout
            times.append(time.perf_counter() - start)
            calls.append(len(proxy.calls))
            assert out.count("Stopped") == COUNT, out[-500:]
        print(f"ls of {COUNT} vmwarevsphere machines against vcsim (1 vCenter), {runs} runs")
        print(f"  SOAP calls per ls: {statistics.median(calls):.0f} ({', '.join(proxy.calls)})")
        print(f"  wall time: {statistics.median(times) * 1000:.0f} ms median")

        # in-process: the same states, batched, and one login per machine
        os.environ["VSPHERE_THUMBPRINT"] = proxy.endpoint.thumbprint
        from machine.store.filestore import Store
        from machine_driver_vmwarevsphere import Driver, connection

        s = Store(store)
        drivers = [Driver.from_json(s.load(n).Driver) for n in s.list_names()]
        batched, single, single_calls = [], [], 0
        for _ in range(runs):
            connection.close_all()
            start = time.perf_counter()
            Driver.states(drivers)
            batched.append(time.perf_counter() - start)
            proxy.reset()
            start = time.perf_counter()
            for d in drivers:
                connection.close_all()  # a login per machine
                Driver.states([d])
            single.append(time.perf_counter() - start)
            single_calls = len(proxy.calls)
        b, o = statistics.median(batched), statistics.median(single)
        print(f"  states, batched: {b * 1000:.0f} ms; a login per machine: {o * 1000:.0f} ms")
        print(f"    ({single_calls} SOAP calls; ratio {o / b:.1f}x)")
        connection.close_all()  # before vcsim stops


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
