"""Commands that read machines: env, ls, ip, url, status, inspect, config, active, version.

Here are their flags and help; what they do is in readers.py, shared with the fast path."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from machine.cli.common import globals_of


def env_cmd(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(metavar="[NAME]")] = None,
    shell: Annotated[
        str,
        typer.Option("--shell", help="Force environment to be configured for a specified shell"),
    ] = "",
    unset: Annotated[
        bool, typer.Option("--unset", "-u", help="Unset variables instead of setting them")
    ] = False,
    no_proxy: Annotated[
        bool, typer.Option("--no-proxy", help="Add machine IP to NO_PROXY environment variable")
    ] = False,
    swarm: Annotated[
        bool, typer.Option("--swarm", help="Display the Swarm config instead of the Docker daemon")
    ] = False,
    context: Annotated[
        bool,
        typer.Option(
            "--context",
            help="Set DOCKER_CONTEXT to the machine's docker context instead of DOCKER_HOST "
            "and the TLS variables",
        ),
    ] = False,
) -> None:
    """Display the commands to set up the environment for the Docker client."""
    from machine.cli import readers

    readers.env(globals_of(ctx), names or [], shell, unset, no_proxy, swarm, context)


def ls_cmd(
    ctx: typer.Context,
    extra: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Enable quiet mode")] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", "-t", help="Timeout in seconds, default to 10s")
    ] = 10.0,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Pretty-print machines using a Go template")
    ] = "",
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", help="Filter output based on conditions provided"),
    ] = None,
) -> None:
    """List machines."""
    from machine.cli import readers

    readers.ls(globals_of(ctx), extra or [], quiet, timeout, fmt, filters)


def ip_cmd(ctx: typer.Context, names: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Get the IP address of a machine."""
    from machine.cli import readers

    readers.ip(globals_of(ctx), names or [])


def url_cmd(
    ctx: typer.Context, names: Annotated[list[str] | None, typer.Argument()] = None
) -> None:
    """Get the URL of a machine."""
    from machine.cli import readers

    readers.url(globals_of(ctx), names or [])


def status_cmd(
    ctx: typer.Context, names: Annotated[list[str] | None, typer.Argument()] = None
) -> None:
    """Get the status of a machine."""
    from machine.cli import readers

    readers.status(globals_of(ctx), names or [])


def inspect_cmd(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument()] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Format the output using the given go template.")
    ] = "",
) -> None:
    """Inspect information about a machine."""
    from machine.cli import readers

    readers.inspect(globals_of(ctx), names or [], fmt)


def config_cmd(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument()] = None,
    swarm: Annotated[
        bool, typer.Option("--swarm", help="Display the Swarm config instead of the Docker daemon")
    ] = False,
) -> None:
    """Print the connection config for machine."""
    from machine.cli import readers

    readers.config(globals_of(ctx), names or [], swarm)


def active_cmd(
    ctx: typer.Context,
    args: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", "-t", help="Timeout in seconds, default to 10s")
    ] = 10.0,
) -> None:
    """Print which machine is active."""
    from machine.cli import readers

    readers.active(globals_of(ctx), args or [], timeout)


def version_cmd(ctx: typer.Context, name: Annotated[str | None, typer.Argument()] = None) -> None:
    """Show the version information (of this tool, or of a machine's engine)."""
    from machine.cli import readers

    readers.version(globals_of(ctx), name)


def completion_cmd(
    ctx: typer.Context,
    shell: Annotated[str, typer.Argument(help="bash, zsh, fish or powershell")],
) -> None:
    """Print a shell completion script (bash, zsh, fish, powershell)."""
    from machine.cli import completion

    sys.stdout.write(completion.script(shell, globals_of(ctx).prog))


def complete_cmd(
    ctx: typer.Context, words: Annotated[list[str] | None, typer.Argument()] = None
) -> None:
    """The candidates for the last of WORDS, one per line (what completion scripts call)."""
    from machine.cli import completion
    from machine.cli.main import build

    for line in completion.candidates(build(), list(words or [""])):
        print(line)
