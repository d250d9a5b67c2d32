"""`machine ls` of 50 virtualbox machines against the VBoxManage simulator (testbed/vboxsim.py,
VirtualBox cannot run here): the VBoxManage calls per `ls` (goal: two, `list vms` and
`list runningvms`, whatever the number of machines) and its wall time; and the same states
asked the way docker-machine did, one `showvminfo` per machine (it also asked each VM for its
address over SSH, which this driver never needs), against the batch.

The records are docker-machine's (the dm-vbox fixture, renamed), so the VMs are found by name;
the VMs are registered and powered off (nothing boots).

Run: .venv/bin/python bench/virtualbox_ls.py [runs]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import MACHINE
from testbed import vboxsim

ROOT = Path(__file__).resolve().parent.parent
COUNT = 50
FIXTURE = ROOT / "tests/fixtures/dm-store/machines/dm-vbox/config.json"


def records(store: Path, names: list[str]) -> None:
    template = FIXTURE.read_text()
    for name in names:
        folder = store / "machines" / name
        folder.mkdir(parents=True, mode=0o700)
        text = template.replace("@STORE@", str(store)).replace("dm-vbox", name)
        data = json.loads(text)
        (folder / "config.json").write_text(json.dumps(data, indent=4))


def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = work / "store"
        store.mkdir(mode=0o700)
        binary = vboxsim.install(work / "bin")
        env = {
            "PATH": f"{work / 'bin'}:{os.environ['PATH']}",
            "VBOX_USER_HOME": str(work / "vbox"),
            "MACHINE_STORAGE_PATH": str(store),
        }
        names = [f"vb{i:03d}" for i in range(COUNT)]
        for name in names:
            subprocess.run(
                [str(binary), "createvm", "--name", name, "--register"],
                env=env,
                check=True,
                capture_output=True,
            )
        records(store, names)
        calls_log = work / "vbox" / "calls.log"
        times, calls = [], []
        for _ in range(runs):
            before = len(calls_log.read_text().splitlines())
            start = time.perf_counter()
            out = subprocess.run(
                [MACHINE, "ls"], env=env, check=True, capture_output=True, text=True
            ).stdout
            times.append(time.perf_counter() - start)
            calls.append(len(calls_log.read_text().splitlines()) - before)
            assert out.count("Stopped") == COUNT, out[-500:]
        print(f"ls of {COUNT} virtualbox machines against the VBoxManage simulator, {runs} runs")
        print(f"  VBoxManage calls per ls: {statistics.median(calls):.0f}")
        print(f"  wall time: {statistics.median(times) * 1000:.0f} ms median")

        # in-process: the batch against one showvminfo per machine (docker-machine's way)
        os.environ.update(env)
        from machine.store.filestore import Store
        from machine_driver_virtualbox import Driver

        s = Store(store)
        drivers = [Driver.from_json(s.load(n).Driver) for n in s.list_names()]
        batched, single = [], []
        for _ in range(runs):
            start = time.perf_counter()
            Driver.states(drivers)
            batched.append(time.perf_counter() - start)
            start = time.perf_counter()
            for d in drivers:
                d.state()
            single.append(time.perf_counter() - start)
        b, o = statistics.median(batched), statistics.median(single)
        print(f"  states, batched (2 calls): {b * 1000:.0f} ms")
        print(f"  one showvminfo per machine ({COUNT} calls): {o * 1000:.0f} ms")
        print(f"    ratio {o / b:.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
