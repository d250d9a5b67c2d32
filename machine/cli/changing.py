"""Commands that change machines: rm, provision, regenerate-certs, start, stop, kill, restart,
upgrade (create is in create.py and creating.py)."""

from __future__ import annotations

import sys
from typing import Annotated

import click
import typer

from machine import errors
from machine.cli.common import (
    checked,
    context_of,
    contexts_of,
    for_each,
    globals_of,
    names_or_default,
    store_of,
)


def rm_cmd(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument()] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            "-f",
            help="Remove local configuration even if machine cannot be removed, "
            "also implies an automatic yes (`-y`)",
        ),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "-y",
            help="Assumes automatic yes to proceed with remove, "
            "without prompting further user confirmation",
        ),
    ] = False,
) -> None:
    """Remove a machine."""
    from machine.ops import lifecycle

    if not names:
        raise errors.UsageError("Error: Expected to get one or more machine names as arguments")
    checked(names)
    print(f"About to remove {', '.join(names)}")
    for line in _removal_warnings(ctx, names):
        print(line)
    if not (yes or force):
        answer = input("Are you sure? (y/n): ")
        if not answer.lower().startswith("y"):
            return
    c = context_of(ctx)
    failures: list[str] = []
    hints: list[str] = []
    for name in names:
        try:
            lifecycle.remove(c, name, force=force)
            print(f"Successfully removed {name}")
        except errors.MachineError as exc:
            failures.append(f'Error removing host "{name}": {exc.message}')
            hints += [exc.hint] if exc.hint else []
    if failures:
        raise errors.MachineError("\n".join(failures), "\n".join(hints))


def _removal_warnings(ctx: click.Context, names: list[str]) -> list[str]:
    """docker-machine's warning, except for machines whose host is not ours to delete: say
    what stays, and that an engine we configured keeps trusting this store's CA."""
    from machine.docker.engine import SYSTEMD_DROPIN
    from machine.registry import default_registry

    store = store_of(ctx)
    kept: list[str] = []
    owned = 0
    for name in names:
        try:
            cls = default_registry().get(store.load(name).DriverName)
        except errors.MachineError:
            owned += 1  # unreadable or missing: rm reports it; the usual warning stands
            continue
        if cls.features.owns_host:
            owned += 1
        elif cls.features.provisions_engine:
            kept.append(
                f"WARNING: {name} ({cls.name}): only the local reference is deleted. The server "
                "stays as it is, and its Docker engine keeps listening on TCP with TLS, trusting "
                "this store's CA, until you remove /etc/docker/{ca,server,server-key}.pem and "
                f"{SYSTEMD_DROPIN} there."
            )
        else:
            kept.append(f"WARNING: {name} ({cls.name}): only the local reference is deleted.")
    lines = ["WARNING: This action will delete both local reference and remote instance."]
    return (lines if owned else []) + kept


def provision_cmd(
    ctx: typer.Context, names: Annotated[list[str] | None, typer.Argument()] = None
) -> None:
    """Re-provision existing machines."""
    from machine.ops import provisioning

    targets = names_or_default(ctx, names or [])
    contexts = contexts_of(ctx, targets)
    for_each(targets, lambda name: provisioning.provision_machine(contexts[name], name))


def regenerate_certs_cmd(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument()] = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Forces certificate regeneration w/o prompting")
    ] = False,
    client_certs: Annotated[
        bool, typer.Option("--client-certs", help="Also regenerate client certificates and CA.")
    ] = False,
) -> None:
    """Regenerate TLS Certificates for a machine."""
    from machine.ops import provisioning

    targets = names_or_default(ctx, names or [])
    if not force:
        answer = input("Regenerate TLS machine certs?  Warning: this is irreversible. (y/n): ")
        if not answer.lower().startswith("y"):
            return
    contexts = contexts_of(ctx, targets)
    if client_certs:
        provisioning.regenerate_client_certs(contexts[targets[0]])
    for_each(targets, lambda name: provisioning.regenerate_certs(contexts[name], name))


def _lifecycle(ctx: click.Context, names: list[str] | None, action: str, hint: str = "") -> None:
    from machine.ops import lifecycle

    targets = names_or_default(ctx, names or [])
    contexts = contexts_of(ctx, targets)
    operation = getattr(lifecycle, action)
    for_each(targets, lambda name: operation(contexts[name], name))
    if hint:
        prog = globals_of(ctx).prog
        print(f"{hint} You may need to re-run the `{prog} env` command.", file=sys.stderr)


def start_cmd(
    ctx: typer.Context, names: Annotated[list[str] | None, typer.Argument()] = None
) -> None:
    """Start a machine."""
    _lifecycle(ctx, names, "start", "Started machines may have new IP addresses.")


def stop_cmd(
    ctx: typer.Context, names: Annotated[list[str] | None, typer.Argument()] = None
) -> None:
    """Stop a machine."""
    _lifecycle(ctx, names, "stop")


def kill_cmd(
    ctx: typer.Context, names: Annotated[list[str] | None, typer.Argument()] = None
) -> None:
    """Kill a machine."""
    _lifecycle(ctx, names, "kill")


def restart_cmd(
    ctx: typer.Context, names: Annotated[list[str] | None, typer.Argument()] = None
) -> None:
    """Restart a machine."""
    _lifecycle(ctx, names, "restart", "Restarted machines may have new IP addresses.")


def upgrade_cmd(
    ctx: typer.Context, names: Annotated[list[str] | None, typer.Argument()] = None
) -> None:
    """Upgrade a machine's Docker engine."""
    _lifecycle(ctx, names, "upgrade")


def use_cmd(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(metavar="[NAME]")] = None,
    unset: Annotated[
        bool, typer.Option("--unset", "-u", help="Go back to the docker CLI's default context")
    ] = False,
) -> None:
    """Switch the docker CLI to a machine's docker context.

    `docker` then talks to the machine with no variables set; -u goes back to the docker CLI's
    default context."""
    from machine.ops import provisioning

    names = names or []
    if unset:
        if names:
            raise errors.UsageError("Error: Expected no machine name when the -u flag is present")
        provisioning.use_context(context_of(ctx, quiet=True), None)
        print('Current context is now "default"', file=sys.stderr)
        return
    from machine.cli.common import one_name

    name = one_name(ctx, names)
    provisioning.use_context(context_of(ctx, quiet=True), name)
    print(f'Current context is now "{name}"', file=sys.stderr)
