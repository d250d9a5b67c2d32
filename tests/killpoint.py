"""Runs `machine` and kills it with SIGKILL at one chosen instant: as a CI runner or the
OOM killer would, with no chance to clean up. Used by the tests of what such a kill leaves.

    MACHINE_TEST_KILL_AT=module:Class.method:before|after[:N] python -m tests.killpoint ARGS

kills the process just before (or after) the N-th call (default 1) of that function.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
from typing import Any


def install(spec: str) -> None:
    module_name, qualname, when, *nth = spec.split(":")
    target = int(nth[0]) if nth else 1
    owner: Any = importlib.import_module(module_name)
    *path, attr = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, attr)
    calls = 0

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == target and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if calls == target and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    # A classmethod is fetched bound to its class, so a plain function works as a stand-in.
    setattr(owner, attr, wrapper)


def main() -> int:
    spec = os.environ.get("MACHINE_TEST_KILL_AT", "")
    if spec:
        install(spec)
    from machine.cli.main import main as machine_main

    sys.argv[0] = "machine"
    return machine_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
