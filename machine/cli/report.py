"""How a command's failure reaches the user: one message (and a hint) on stderr and the exit
code scripts expect, for the full command line and the fast path alike."""

from __future__ import annotations

import os
import signal
import sys

from machine import errors


def program(args: list[str]) -> str:
    """The name every message and hint uses (docker-machine's when run through a link of that
    name or with --compat), set for the error module too."""
    base = os.path.basename(sys.argv[0])
    prog = "machine" if base in ("__main__.py", "") or base.startswith("python") else base
    if "--compat" in args or os.environ.get("MACHINE_COMPAT", "").lower() in ("1", "true"):
        prog = "docker-machine"
    errors.set_program(prog)
    return prog


def terminated(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C (a create in progress removes what it made)."""
    raise errors.Terminated


def outcome(exc: BaseException, prog: str, debug: bool) -> int:
    """The exit code for `exc`, after saying what happened; anything else is raised again."""
    if isinstance(exc, errors.MachineError):
        report(exc.message, exc.hint, debug, exc)
        return exc.exit_code
    if isinstance(exc, errors.Terminated):
        print("Terminated.", file=sys.stderr)
        return 128 + signal.SIGTERM
    if isinstance(exc, KeyboardInterrupt):
        print("\nInterrupted.", file=sys.stderr)  # the blank line closes the terminal's ^C
        return 130
    if isinstance(exc, BrokenPipeError):
        return 1
    if isinstance(exc, RecursionError):
        report("Error: the input is nested too deeply to process", "", debug, exc)
        return 1
    if isinstance(exc, Exception):  # the last resort: a bug of ours, said in one line
        report(
            f"Error: unexpected {type(exc).__name__}: {one_line(str(exc))}",
            f"This is a bug in {prog}; run with -D for details.",
            debug,
            exc,
        )
        return 1
    raise exc


def one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 300 else line[:297] + "..."


def report(message: str, hint: str, debug: bool, exc: BaseException) -> None:
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    print(message, file=sys.stderr)
    if hint:
        print(hint, file=sys.stderr)
