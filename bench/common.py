"""Helpers for benchmarks: run a command N times, report the median."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

MACHINE = str(Path(sys.executable).parent / "machine")


def median_seconds(argv: list[str], env: dict[str, str], runs: int = 10) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def verdict(value: float, goal: float) -> str:
    return "ok" if value <= goal else f"OVER BUDGET (goal {goal * 1000:.0f} ms)"


def private_docker_config() -> None:
    """Machines a benchmark creates get their docker contexts in a folder of their own, removed
    at exit: never in the user's ~/.docker."""
    import atexit
    import os
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="machine-bench-docker-")
    os.environ["DOCKER_CONFIG"] = folder
    atexit.register(shutil.rmtree, folder, True)
