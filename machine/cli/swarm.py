"""`machine swarm init|join|leave|ls`: swarm mode across the store's machines."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from machine.cli.common import checked, context_of

app = typer.Typer(
    help="Cluster machines with the engine's swarm mode.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("init")
def init_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The machine that becomes the first manager")],
    advertise_addr: Annotated[
        str, typer.Option("--advertise-addr", help="Address other nodes reach it on")
    ] = "",
) -> None:
    """Make a machine the first manager of a new swarm."""
    from machine.ops import swarm

    [name] = checked([name])
    swarm.init(context_of(ctx, quiet=True), name, advertise_addr)
    print(f'Machine "{name}" is the manager of a new swarm.', file=sys.stderr)


@app.command("join")
def join_cmd(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="The machines that join")],
    manager: Annotated[str, typer.Option("--manager", help="A manager of the swarm")],
    role: Annotated[str, typer.Option("--role", help="worker or manager")] = "worker",
    advertise_addr: Annotated[
        str, typer.Option("--advertise-addr", help="Address other nodes reach it on")
    ] = "",
) -> None:
    """Join machines to the swarm of a manager (or change their role in it)."""
    from machine.ops import swarm

    names = checked(names)
    [manager] = checked([manager])
    context = context_of(ctx, quiet=True)
    for name in names:  # one at a time: raft takes members in turn
        swarm.join(context, name, manager, role, advertise_addr)
        print(f'Machine "{name}" is a {role} of the swarm of "{manager}".', file=sys.stderr)


@app.command("leave")
def leave_cmd(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="The machines that leave")],
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Even if the swarm loses its last manager")
    ] = False,
) -> None:
    """Drain machines, take them out of their swarm and off its node list."""
    from machine.ops import swarm

    context = context_of(ctx, quiet=True)
    for name in checked(names):
        swarm.leave(context, name, force)
        print(f'Machine "{name}" left its swarm.', file=sys.stderr)


@app.command("ls")
def ls_cmd(ctx: typer.Context) -> None:
    """List the nodes of each swarm the store's machines are in."""
    from machine.ops import swarm
    from machine.render.tabwriter import format_lines

    rows = [["MACHINE", "NODE", "ROLE", "LEADER", "STATE", "AVAILABILITY", "ENGINE"]]
    for nodes in swarm.swarms(context_of(ctx, quiet=True)):
        for n in sorted(nodes, key=lambda n: (n.role != "manager", n.machine or n.hostname)):
            rows.append(
                [
                    n.machine or "-",
                    n.node_id[:12],
                    n.role,
                    "yes" if n.leader else "",
                    n.state,
                    n.availability,
                    n.engine,
                ]
            )
    sys.stdout.write(format_lines(["\t".join(row) for row in rows]))
