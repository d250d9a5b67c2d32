"""`machine orphans`: cloud resources this store made that no machine owns (a create killed
outright, a record deleted by hand), and their removal with --remove."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from machine import errors
from machine.cli.common import context_of


def orphans_cmd(
    ctx: typer.Context,
    driver: Annotated[
        list[str] | None,
        typer.Option("--driver", "-d", help="Only this driver's resources (repeatable)"),
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove what is listed")] = False,
    yes: Annotated[bool, typer.Option("-y", help="Remove without asking")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the ids")] = False,
) -> None:
    """List (and with --remove delete) resources this store made that no machine owns."""
    from machine.ops import orphans
    from machine.render import tabwriter

    c = context_of(ctx)
    found = orphans.find(c, driver or None)
    if quiet:
        for _, o in found.orphans:
            print(o.id)
    else:
        lines = ["DRIVER\tKIND\tID\tWHERE\tMACHINE\tDETAIL"]
        lines += [
            f"{d}\t{o.kind}\t{o.id}\t{o.where}\t{o.name or '-'}\t{o.detail or '-'}"
            for d, o in found.orphans
        ]
        sys.stdout.write(tabwriter.format_lines(lines))
    if found.unreadable:
        print(
            "Warning: these machines could not be read, so what they own may be listed: "
            + ", ".join(found.unreadable),
            file=sys.stderr,
        )
    if not remove or not found.orphans:
        return
    if found.unreadable:
        raise errors.MachineError(
            "Not removing anything while some machines cannot be read",
            hint="Fix or remove (`rm -f`) those machines first.",
        )
    if not yes:
        answer = input(f"Remove these {len(found.orphans)} resources? (y/n): ")
        if not answer.lower().startswith("y"):
            return
    failures = []
    for driver_name, orphan in found.orphans:
        try:
            orphans.remove(c, driver_name, orphan)
            print(f"Removed {orphan.kind} {orphan.id}", file=sys.stderr)
        except errors.MachineError as exc:
            failures.append(f"{orphan.kind} {orphan.id}: {exc.message}")
    if failures:
        raise errors.MachineError("Some resources were not removed: " + "; ".join(failures))
