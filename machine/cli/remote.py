"""Commands that reach into machines: ssh, scp, mount."""

from __future__ import annotations

import shutil
import sys
from typing import Annotated, Any

import click
import typer

from machine import errors
from machine.cli.common import (
    context_of,
    globals_of,
    one_name,
    store_of,
)
from machine.store import paths


def ssh_cmd(
    ctx: typer.Context,
    words: Annotated[
        list[str] | None, typer.Argument(metavar="NAME [SSH-OPTIONS] [COMMAND]")
    ] = None,
) -> None:
    """Log into or run a command on a machine with SSH."""
    from machine.ops import lifecycle
    from machine.remote import ssh

    g = globals_of(ctx)
    args = list(words or [])
    # Nothing after `ssh` is parsed as our options (docker-machine skipped flag parsing here):
    # the first word is the machine, the rest is for ssh and the remote command.
    if args[:1] in (["-h"], ["--help"]):
        print(ctx.get_help())
        return
    if args and args[0].startswith("-"):
        raise errors.UsageError(
            f"Error: ssh options go after the machine name: {g.prog} ssh NAME {args[0]} ..."
        )
    name, command = (args[0], args[1:]) if args else (None, [])
    target_name = one_name(ctx, [name] if name is not None else [])
    _record, _driver, target = lifecycle.ssh_endpoint(context_of(ctx, quiet=True), target_name)
    words = command
    if not g.native_ssh and shutil.which("ssh"):
        argv = ssh.openssh_argv(target, words, stdin_tty=sys.stdin.isatty())
        code = _run_tool(argv)
        if code == 255:  # ssh's own failure (the remote command's codes pass through)
            _explain_refusal([target])
        raise typer.Exit(code)
    import time

    code = ssh.run_interactive_paramiko(target, words, time.monotonic() + 30)
    raise typer.Exit(code)


def _targets(ctx: click.Context, machines: set[str]) -> dict[str, Any]:
    from machine.ops import lifecycle

    c = context_of(ctx, quiet=True)
    return {name: lifecycle.ssh_endpoint(c, name)[2] for name in machines}


def _require_tool(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        raise errors.MachineError(
            f"{tool} is not installed on this computer",
            hint=f"Install it, e.g. `apt-get install {package}`.",
        )


def _run_tool(argv: list[str]) -> int:
    """Run an OpenSSH-family tool in the foreground; Ctrl-C is its to handle (the terminal
    sends it to both of us), and its exit code becomes ours."""
    import signal
    import subprocess

    sys.stdout.flush()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.call(argv)
    finally:
        signal.signal(signal.SIGINT, previous)


def _explain_refusal(targets: list[Any]) -> None:
    """OpenSSH says only "exit 255" (its log is quiet): if a host key no longer matches its
    pin, say so and what to do."""
    from machine.remote import ssh

    for target in targets:
        try:
            ssh.check_host_key(target, timeout=10)
        except errors.HostKeyMismatch as exc:
            raise exc from None
        except Exception:  # noqa: S112 - unreachable hosts are ssh's own message to give
            continue


def scp_cmd(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument(metavar="[[user@]machine:][path]")],
    dst: Annotated[str, typer.Argument(metavar="[[user@]machine:][path]")],
    recursive: Annotated[
        bool,
        typer.Option(
            "--recursive", "-r", help="Copy files recursively (required to copy directories)"
        ),
    ] = False,
    delta: Annotated[
        bool,
        typer.Option(
            "--delta",
            "-d",
            help="Reduce amount of data sent over network by sending only the differences "
            "(uses rsync)",
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Disables the progress meter as well as warning and diagnostic messages from ssh",
        ),
    ] = False,
) -> None:
    """Copy files between machines."""
    from machine.remote import transfer

    source, target = transfer.parse_location(src), transfer.parse_location(dst)
    _require_tool(*(("rsync", "rsync") if delta else ("scp", "openssh-client")))
    machines = {loc.machine for loc in (source, target) if loc.machine}
    targets = _targets(ctx, machines)
    with transfer.config_file(targets) as config:
        if delta:
            code = _run_tool(transfer.rsync_argv(config, source, target, recursive, quiet))
        else:
            code = _run_tool(transfer.scp_argv(config, source, target, recursive, quiet))
    if code:
        _explain_refusal(list(targets.values()))
        raise typer.Exit(code)


def mount_cmd(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument(metavar="[machine:][path]")],
    mountpoint: Annotated[str, typer.Argument(metavar="[mountpoint]")],
    unmount: Annotated[
        bool, typer.Option("--unmount", "-u", help="Unmount instead of mount")
    ] = False,
) -> None:
    """Mount or unmount a directory from a machine with SSHFS."""
    from machine.remote import transfer

    if unmount:
        _require_tool("fusermount", "fuse3")
        code = _run_tool(transfer.unmount_argv(mountpoint))
    else:
        _require_tool("sshfs", "sshfs")
        source = transfer.parse_location(src)
        if not source.machine:
            raise errors.UsageError(f"Error: {src!r} names no machine (use machine:path)")
        targets = _targets(ctx, {source.machine})
        # sshfs keeps using the config after this command returns: keep it with the machine
        config = store_of(ctx).machine_dir(source.machine) / paths.SSH_CONFIG
        from machine.store.files import write_atomic

        write_atomic(config, transfer.ssh_config(targets))
        code = _run_tool(transfer.sshfs_argv(str(config), source, mountpoint))
        if code:
            _explain_refusal(list(targets.values()))
    if code:
        raise typer.Exit(code)
