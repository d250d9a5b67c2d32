"""`machine ls` as the store grows: fixed cost, cost per machine, and 10,000 records.

Goal (issue 14): 10,000 `none` and generic records listed in under 1 s, linear in the number
of machines, with no per-row work the chosen output does not need. The store holds half `none`
records and half generic records with real certificates (made once and copied, as a create
would leave them). The generic machines' addresses are TEST-NET-1 (never routed): a format or a
filter that needed their state would wait for hosts, so the forms timed here are those that
need none (a `none` machine's state and URL come from its record):

- `ls --filter driver=none`: the default table for the `none` half;
- `ls --format "{{.Name}} {{.DriverName}}"`: every record, no backend asked;
- `ls -q --filter driver=generic`: names of the generic half.

Run: .venv/bin/python bench/ls_scale.py [RUNS]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import MACHINE, median_seconds
from bench.env_and_ls import _generic_record

SIZES = (1000, 5000, 10000)
GOAL = 1.0  # seconds for 10,000 records


def _fill(root: Path, env: dict[str, str], count: int) -> None:
    """`count` records: even ones `none`, odd ones generic (copies of one real record)."""
    subprocess.run(
        [MACHINE, "create", "-d", "none", "--url", "tcp://192.0.2.1:2376", "m0"],
        env=env,
        check=True,
        capture_output=True,
    )
    _generic_record(root, "m1", "192.0.2.2")
    machines = root / "machines"
    none_text = (machines / "m0" / "config.json").read_text()
    generic = machines / "m1"
    for i in range(2, count):
        folder = machines / f"m{i}"
        if i % 2:
            shutil.copytree(generic, folder)
            text = (folder / "config.json").read_text()
            (folder / "config.json").write_text(text.replace('"m1"', f'"m{i}"'))
        else:
            folder.mkdir(mode=0o700)
            (folder / "config.json").write_text(none_text.replace('"m0"', f'"m{i}"'))


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    forms = {
        "ls --filter driver=none": ["ls", "--filter", "driver=none"],
        "ls --format NAME DRIVER": ["ls", "--format", "{{.Name}} {{.DriverName}}"],
        "ls -q --filter driver=generic": ["ls", "-q", "--filter", "driver=generic"],
    }
    results: dict[str, dict[int, float]] = {form: {} for form in forms}
    for size in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")},
                "MACHINE_STORAGE_PATH": tmp,
            }
            _fill(Path(tmp), env, size)
            for form, args in forms.items():
                results[form][size] = median_seconds([MACHINE, *args], env, runs)
    print(f"machine ls over a store of n records, half none, half generic (median of {runs})")
    for form, by_size in results.items():
        cells = "  ".join(f"n={n}: {t * 1000:6.0f} ms" for n, t in by_size.items())
        slope = (by_size[SIZES[-1]] - by_size[SIZES[0]]) / (SIZES[-1] - SIZES[0])
        fixed = by_size[SIZES[0]] - slope * SIZES[0]
        verdict = "ok" if by_size[10000] <= GOAL else f"OVER (goal {GOAL:.0f} s at 10,000)"
        print(f"{form:32s} {cells}  fixed {fixed * 1000:.0f} ms + {slope * 1e6:.0f} us/machine"
              f"  {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
