"""Entry point: global flags, the command group, and errors turned into messages + exit codes.

Kept light: typer/click and our small modules only; anything heavy (paramiko, cryptography,
rich, driver SDKs) is imported inside the commands that need it, so `machine env` stays instant.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Annotated, Any

import click
import typer
import typer.core

from machine import errors
from machine.cli import report
from machine.cli.about import version_line
from machine.cli.common import Globals


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        print(version_line(ctx.find_root().info_name or "machine"))
        ctx.exit(0)


class Group(typer.core.TyperGroup):
    """Builds each command on first use: turning a typer function into a click command costs
    ~1 ms per command (annotations evaluated, dataclasses made), and `env` needs only its own."""

    lazy: dict[str, Callable[[], click.Command]]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = getattr(self, "lazy", {})
        if cmd_name not in self.commands and cmd_name in lazy:
            self.add_command(lazy.pop(cmd_name)(), cmd_name)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.commands, *getattr(self, "lazy", {})]

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and self.get_command(ctx, name) is None and not name.startswith("-"):
            prog = ctx.find_root().info_name or "machine"
            raise errors.UsageError(
                f"{prog}: '{name}' is not a {prog} command. See '{prog} --help'."
            )
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=Group,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Create and manage machines running Docker.",
)


@app.callback()
def _globals(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", "-D", envvar="MACHINE_DEBUG", help="Enable debug mode")
    ] = False,
    storage_path: Annotated[
        str | None,
        typer.Option(
            "--storage-path",
            "-s",
            envvar="MACHINE_STORAGE_PATH",
            help="Configures storage path [$MACHINE_STORAGE_PATH] (default ~/.docker/machine)",
        ),
    ] = None,
    tls_ca_cert: Annotated[
        str | None, typer.Option(envvar="MACHINE_TLS_CA_CERT", help="CA to verify remotes against")
    ] = None,
    tls_ca_key: Annotated[
        str | None,
        typer.Option(envvar="MACHINE_TLS_CA_KEY", help="Private key to generate certificates"),
    ] = None,
    tls_client_cert: Annotated[
        str | None,
        typer.Option(envvar="MACHINE_TLS_CLIENT_CERT", help="Client cert to use for TLS"),
    ] = None,
    tls_client_key: Annotated[
        str | None,
        typer.Option(envvar="MACHINE_TLS_CLIENT_KEY", help="Private key used in client TLS auth"),
    ] = None,
    native_ssh: Annotated[
        bool,
        typer.Option(
            envvar="MACHINE_NATIVE_SSH", help="Use the native (Go-based) SSH implementation."
        ),
    ] = False,
    github_api_token: Annotated[
        str | None, typer.Option(envvar="MACHINE_GITHUB_API_TOKEN", hidden=True)
    ] = None,
    compat: Annotated[
        bool,
        typer.Option(
            "--compat",
            envvar="MACHINE_COMPAT",
            help="Speak as docker-machine in messages and hints (as when run under that name)",
        ),
    ] = False,
    bugsnag_api_token: Annotated[
        str | None,
        typer.Option(envvar="MACHINE_BUGSNAG_API_TOKEN", hidden=True, help="Accepted; never used"),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-v",
            is_eager=True,
            expose_value=True,
            callback=_print_version,
            help="Print the version",
        ),
    ] = False,
) -> None:
    from machine.store.paths import resolve_store_root

    ctx.obj = Globals(
        storage_path=resolve_store_root(storage_path),
        debug=debug,
        native_ssh=native_ssh,
        prog=ctx.find_root().info_name or "machine",
        tls_ca_cert=tls_ca_cert,
        tls_ca_key=tls_ca_key,
        tls_client_cert=tls_client_cert,
        tls_client_key=tls_client_key,
    )


def _create_command() -> click.Command:
    from machine.cli.create import CreateCommand

    return CreateCommand()


def build() -> click.Group:
    from functools import partial

    from machine.cli import commands

    if not app.registered_commands:
        commands.register(app)
    infos = list(app.registered_commands)
    app.registered_commands = []  # the group gets them lazily, below
    try:
        group = typer.main.get_command(app)
    finally:
        app.registered_commands = infos
    assert isinstance(group, Group)
    group.lazy = {"create": _create_command}
    for info in infos:
        assert info.name
        group.lazy[info.name] = partial(
            typer.main.get_command_from_info,
            info,
            pretty_exceptions_short=True,
            rich_markup_mode=None,
        )
    return group


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any("\0" in a for a in args):  # only possible in-process: exec cannot pass a NUL
        print("Error: an argument holds a NUL character", file=sys.stderr)
        return 1
    prog = report.program(args)
    debug = "-D" in args or "--debug" in args or bool(os.environ.get("MACHINE_DEBUG"))
    if debug:
        import logging

        logging.basicConfig(
            level=logging.DEBUG, stream=sys.stderr, format="DEBUG %(name)s: %(message)s"
        )
        logging.getLogger("paramiko").setLevel(logging.WARNING)
        # botocore logs whole requests at DEBUG: user data (a host key) and signed headers
        for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, report.terminated)
    try:
        group = build()
        code = group.main(args=args, prog_name=prog, standalone_mode=False)
        if isinstance(code, int):  # click returns Exit's code instead of raising it here
            return code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, errors.Terminated):
            print("Terminated.", file=sys.stderr)
            return 128 + signal.SIGTERM
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click printed the blank line
            print("Interrupted.", file=sys.stderr)
            return 130
        print("Aborted.", file=sys.stderr)
        return 1
    except click.exceptions.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else exc.format_message())  # docker-machine: exit 0
        return 0
    except click.ClickException as exc:
        # docker-machine exits 1 on usage errors (click would exit 2)
        ctx: Any = getattr(exc, "ctx", None)
        if ctx is not None and isinstance(exc, click.UsageError):
            print(ctx.get_usage(), file=sys.stderr)
        print(f"Error: {exc.format_message()}", file=sys.stderr)
        return 1
    except BaseException as exc:  # ours, interruptions, and the last resort for bugs
        return report.outcome(exc, prog, debug)
    return 0


def entry() -> None:
    sys.exit(main())
