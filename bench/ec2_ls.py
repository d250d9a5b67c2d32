"""`machine ls` of 200 amazonec2 machines against moto's server (a simulator of EC2): the API
calls it makes (goal: one DescribeInstances per region) and its wall time; and the states of
those 200 asked one machine at a time (docker-machine's way) against the batched query.

Run: .venv/bin/python bench/ec2_ls.py [runs]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import MACHINE
from tests import aws

COUNT = 200


def main(runs: int) -> None:
    with aws.running() as ec2, tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp, "store")
        aws.machine_records(store, ec2, COUNT)
        env = {**ec2.env(), "MACHINE_STORAGE_PATH": str(store)}
        times, calls = [], []
        for _ in range(runs):
            ec2.reset()
            start = time.perf_counter()
            out = subprocess.run(
                [MACHINE, "ls", "-t", "60"], env=env, check=True, capture_output=True, text=True
            ).stdout
            times.append(time.perf_counter() - start)
            calls.append(len(ec2.calls))
            assert out.count("Running") == COUNT, out[-500:]
        print(f"ls of {COUNT} amazonec2 machines against moto (1 region), {runs} runs")
        print(f"  API calls per ls: {statistics.median(calls):.0f} (goal: 1 per region)")
        print(f"  wall time: {statistics.median(times) * 1000:.0f} ms median")

        # in-process: the same states, batched and one machine at a time
        import os

        os.environ.update(ec2.env())
        from machine.store.filestore import Store
        from machine_driver_amazonec2 import Driver

        s = Store(store)
        drivers = [Driver.from_json(s.load(n).Driver) for n in s.list_names()]
        batched, single = [], []
        for _ in range(runs):
            ec2.reset()
            start = time.perf_counter()
            Driver.states(drivers)
            batched.append(time.perf_counter() - start)
            batched_calls = len(ec2.calls)
            ec2.reset()
            start = time.perf_counter()
            for d in drivers:
                d.state()
            single.append(time.perf_counter() - start)
            single_calls = len(ec2.calls)
        b, o = statistics.median(batched), statistics.median(single)
        print(f"  states, batched: {b * 1000:.0f} ms, {batched_calls} call(s)")
        print(f"  states, one machine at a time: {o * 1000:.0f} ms, {single_calls} calls")
        print(f"  ratio: {o / b:.0f}x fewer seconds batched")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
