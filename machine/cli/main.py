"""Entry point: global flags, the command group, and errors turned into messages + exit codes.

Kept light: typer/click and our small modules only; anything heavy (paramiko, cryptography,
rich, driver SDKs) is imported inside the commands that need it, so `machine env` stays instant.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import click
import typer
import typer.core

from machine import __version__, errors

VERSION = __version__


def build_id() -> str:
    """The commit this copy was built from: a checkout's HEAD, read without running git."""
    git = Path(__file__).resolve().parents[2] / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            path = git / ref
            if path.is_file():
                head = path.read_text().strip()
            else:  # packed refs
                for line in (git / "packed-refs").read_text().splitlines():
                    if line.endswith(" " + ref):
                        head = line.split()[0]
        if len(head) >= 7 and all(c in "0123456789abcdef" for c in head):
            return head[:7]
    except OSError:
        pass
    return "release"


def version_line(prog: str) -> str:
    return f"{prog} version {VERSION}, build {build_id()}"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        print(version_line(ctx.find_root().info_name or "machine"))
        ctx.exit(0)


@dataclass
class Globals:
    storage_path: Path
    debug: bool
    native_ssh: bool
    prog: str
    tls_ca_cert: str | None = None
    tls_ca_key: str | None = None
    tls_client_cert: str | None = None
    tls_client_key: str | None = None


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


def _prog_name(argv0: str) -> str:
    base = os.path.basename(argv0)
    if base in ("__main__.py", "") or base.startswith("python"):
        return "machine"
    return base


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


def _terminated(signum: int, frame: object) -> None:
    raise errors.Terminated


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any("\0" in a for a in args):  # only possible in-process: exec cannot pass a NUL
        print("Error: an argument holds a NUL character", file=sys.stderr)
        return 1
    prog = _prog_name(sys.argv[0])
    if "--compat" in args or os.environ.get("MACHINE_COMPAT", "").lower() in ("1", "true"):
        prog = "docker-machine"  # the name every message and hint uses
    errors.set_program(prog)
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
    signal.signal(signal.SIGTERM, _terminated)
    try:
        group = build()
        code = group.main(args=args, prog_name=prog, standalone_mode=False)
        if isinstance(code, int):  # click returns Exit's code instead of raising it here
            return code
    except errors.MachineError as exc:
        _report(exc.message, exc.hint, debug, exc)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, errors.Terminated):
            print("Terminated.", file=sys.stderr)
            return 128 + signal.SIGTERM
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
    except errors.Terminated:
        print("Terminated.", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except RecursionError as exc:
        _report("Error: the input is nested too deeply to process", "", debug, exc)
        return 1
    except Exception as exc:  # the last resort: a bug of ours, said in one line
        _report(
            f"Error: unexpected {type(exc).__name__}: {_one_line(str(exc))}",
            f"This is a bug in {prog}; run with -D for details.",
            debug,
            exc,
        )
        return 1
    return 0


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 300 else line[:297] + "..."


def _report(message: str, hint: str, debug: bool, exc: BaseException) -> None:
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    print(message, file=sys.stderr)
    if hint:
        print(hint, file=sys.stderr)


def entry() -> None:
    sys.exit(main())
