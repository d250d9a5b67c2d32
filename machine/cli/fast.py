"""The `machine` command's entry point, with a fast path for the invocations scripts run in loops.

`env`, `ip`, `url`, `status`, `inspect`, `config`, `active`, `ls`, `version` and `create`
with their common flags are recognised here and run without the command-line framework (typer
and click cost more than the rest of such a command together); anything else, including every
invocation this parser is not sure of (help, a flag it does not know, a debug run), goes to
the full command line in main.py. Both run the same functions (readers.py) and report
failures the same way (report.py), so the output is the same byte for byte.

Only the standard library's cheapest modules are imported here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

FULL = None  # "not recognised: run the full command line"

# command -> {option: takes a value}; options not listed send the invocation to main.py
_OPTIONS: dict[str, dict[str, bool]] = {
    "env": {
        "--shell": True,
        "-u": False,
        "--unset": False,
        "--no-proxy": False,
        "--context": False,
    },
    "ip": {},
    "url": {},
    "status": {},
    "inspect": {"-f": True, "--format": True},
    "config": {},
    "active": {},
    "ls": {
        "-q": False,
        "--quiet": False,
        "-t": True,
        "--timeout": True,
        "-f": True,
        "--format": True,
        "--filter": True,
    },
    "version": {},
}
_CANONICAL = {"-u": "--unset", "-f": "--format", "-q": "--quiet", "-t": "--timeout"}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parsed = parse(args)
    if parsed is FULL:
        from machine.cli.main import main as full

        return full(args)
    storage, command, options, positional = parsed
    return run(args, storage, command, options, positional)


def parse(
    args: list[str],
) -> tuple[str | None, str, dict[str, list[str]], list[str]] | None:
    """(--storage-path, command, options, positional arguments), or FULL."""
    if os.environ.get("MACHINE_DEBUG") or any("\0" in a for a in args):
        return FULL
    storage: str | None = None
    i = 0
    while i < len(args) and args[i].startswith("-"):  # the global options we know
        flag, eq, value = args[i].partition("=")
        if flag not in ("-s", "--storage-path") or (eq and flag == "-s"):
            return FULL
        if not eq:
            if i + 1 >= len(args):
                return FULL
            value = args[i + 1]
            i += 1
        storage = value
        i += 1
    if i < len(args) and args[i] == "create":  # its flags depend on its driver: create_params
        return storage, "create", {}, args[i + 1 :]
    if i >= len(args) or args[i] not in _OPTIONS:
        return FULL
    command, known = args[i], _OPTIONS[args[i]]
    options: dict[str, list[str]] = {}
    positional: list[str] = []
    rest = args[i + 1 :]
    j = 0
    while j < len(rest):
        word = rest[j]
        j += 1
        if not word.startswith("-") or word == "-":
            positional.append(word)
            continue
        flag, eq, value = word.partition("=")
        if flag not in known or (eq and not flag.startswith("--")):
            return FULL  # --help, -D, a flag of another command, -xVALUE, `--`: click decides
        if known[flag]:
            if not eq:
                if j >= len(rest):
                    return FULL
                value = rest[j]
                j += 1
            options.setdefault(_CANONICAL.get(flag, flag), []).append(value)
        elif eq:
            return FULL
        else:
            options[_CANONICAL.get(flag, flag)] = []
    return storage, command, options, positional


def run(
    args: list[str],
    storage: str | None,
    command: str,
    options: dict[str, list[str]],
    positional: list[str],
) -> int:
    import signal

    from machine.cli import report

    prog = report.program(args)
    signal.signal(signal.SIGTERM, report.terminated)
    try:
        if (action := _action(command, options, positional, storage, prog)) is FULL:
            from machine.cli.main import main as full

            return full(args)
        action()
    except BaseException as exc:
        return report.outcome(exc, prog, False)
    return 0


def _action(
    command: str,
    options: dict[str, list[str]],
    positional: list[str],
    storage: str | None,
    prog: str,
) -> Callable[[], Any] | None:
    from machine.cli.common import Globals
    from machine.store.paths import resolve_store_root

    g = Globals(
        storage_path=resolve_store_root(storage),
        debug=False,
        native_ssh=False,
        prog=prog,
    )

    def last(option: str, default: str = "") -> str:
        values = options.get(option)
        return values[-1] if values else default

    if command == "create":
        from machine.cli import creating

        params = create_params(positional)
        if params is FULL:
            return FULL
        return lambda: creating.run(g, params)
    from machine.cli import readers

    if command == "env":
        return lambda: readers.env(
            g,
            positional,
            shell=last("--shell"),
            unset="--unset" in options,
            no_proxy="--no-proxy" in options,
            context="--context" in options,
        )
    if command == "ls":
        timeout = _seconds(last("--timeout", "10"))
        if timeout is None:
            return FULL
        filters = options.get("--filter")
        return lambda: readers.ls(
            g, positional, "--quiet" in options, timeout, last("--format"), filters
        )
    if command == "inspect":
        return lambda: readers.inspect(g, positional, last("--format"))
    if command == "version":
        if len(positional) > 1:
            return FULL
        return lambda: readers.version(g, positional[0] if positional else None)
    if command == "active":
        return lambda: readers.active(g, positional)
    simple: dict[str, Callable[[Any, list[str]], None]] = {
        "ip": readers.ip,
        "url": readers.url,
        "status": readers.status,
        "config": readers.config,
    }
    return lambda: simple[command](g, positional)


def create_params(args: list[str]) -> dict[str, Any] | None:
    """create's parameters when the driver is named by -d/--driver or $MACHINE_DRIVER and
    loads, one machine is named, and createflags.parse is sure of every flag (None otherwise:
    help, the local default driver, an unknown driver, ... go to the full command line)."""
    from machine.cli import createflags
    from machine.registry import default_registry

    name = createflags.driver_from_args(args) or os.environ.get("MACHINE_DRIVER")
    if not name:
        return FULL
    try:
        driver_class = default_registry().get(name)
    except Exception:  # the full command line says what is wrong with it
        return FULL
    flags = [*createflags.SHARED, *createflags.driver_flags(driver_class.Config)]
    params = createflags.parse(args, flags)
    if params is None or len(params["name"]) != 1 or params["driver"] != name:
        return FULL
    return params


def served(args: list[str]) -> bool:
    """Whether the fast path runs `args` itself (the tests' view of parse and create_params)."""
    parsed = parse(args)
    if parsed is FULL:
        return False
    if parsed[1] == "create":
        return create_params(parsed[3]) is not FULL
    return True


def _seconds(text: str) -> float | None:
    """A timeout as click reads a float (None: let click say what is wrong with it)."""
    try:
        return float(text)
    except ValueError:
        return None
