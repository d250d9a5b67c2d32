"""Runs many `machine` command lines fast: one process imports the CLI, then forks one child
per command line, so each runs as a real process (its own stdio, exit code, exec of ssh)
without paying the interpreter's start-up a thousand times.

Used as `python -m tests.cli.runner < cases.json > results.json`; each case is
{"argv": [...], "env": {...}, "cwd": "...", "timeout": seconds}, each result
{"code": int, "stdout": str, "stderr": str, "timed_out": bool}.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from typing import Any

CRASHED = 99  # the child's exit code when an exception escaped main()


def _child(case: dict[str, Any], out: int, err: int) -> None:
    from machine.cli.main import main

    os.setsid()  # its own process group: a timeout stops it and whatever it started
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.chdir(case["cwd"])
    os.environ.clear()
    os.environ.update(case["env"])
    prog = case.get("prog", "machine")
    sys.argv = [prog, *case["argv"]]
    try:
        code = main(list(case["argv"]))
    except BaseException:
        traceback.print_exc()
        code = CRASHED
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 1)


def run_one(case: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:
            try:
                _child(case, out.fileno(), err.fileno())
            finally:
                os._exit(CRASHED)
        started = time.monotonic()
        deadline = started + float(case.get("timeout", 30))
        timed_out = False
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.002)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {
            "code": code,
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
            "timed_out": timed_out,
            "seconds": round(time.monotonic() - started, 3),
        }


def main() -> int:
    cases = json.load(sys.stdin)
    import machine.cli.main  # noqa: F401 - imported once, before the forks

    results = [run_one(case) for case in cases]
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
