"""What every command needs: the global options, the store, an ops context, the name rules
(`default` when no name is given), and running an action on several machines at once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from machine import errors
from machine.store.filestore import Store, validate_name

if TYPE_CHECKING:
    import click

DEFAULT_NAME = "default"


class Globals:
    """The global options, as every command sees them (a plain class: the common commands
    also run without the command-line framework, see fast.py)."""

    __slots__ = (
        "debug",
        "native_ssh",
        "prog",
        "storage_path",
        "tls_ca_cert",
        "tls_ca_key",
        "tls_client_cert",
        "tls_client_key",
    )

    def __init__(
        self,
        storage_path: Path,
        debug: bool,
        native_ssh: bool,
        prog: str,
        tls_ca_cert: str | None = None,
        tls_ca_key: str | None = None,
        tls_client_cert: str | None = None,
        tls_client_key: str | None = None,
    ) -> None:
        self.storage_path = storage_path
        self.debug = debug
        self.native_ssh = native_ssh
        self.prog = prog
        self.tls_ca_cert = tls_ca_cert
        self.tls_ca_key = tls_ca_key
        self.tls_client_cert = tls_client_cert
        self.tls_client_key = tls_client_key

    def store(self) -> Store:
        return Store(self.storage_path)


def globals_of(ctx: click.Context) -> Globals:
    g = ctx.find_root().obj
    assert isinstance(g, Globals)
    return g


def store_of(ctx: click.Context) -> Store:
    return Store(globals_of(ctx).storage_path)


def context_of(ctx: click.Context, quiet: bool = False, prefix: str = "") -> Any:
    return context_for(store_of(ctx), quiet, prefix)


def context_for(store: Store, quiet: bool = False, prefix: str = "") -> Any:
    from machine.ops.context import Context
    from machine.progress import Progress
    from machine.registry import default_registry

    return Context(store, default_registry(), Progress(quiet=quiet, prefix=prefix))


def contexts_of(ctx: click.Context, names: list[str]) -> Any:
    """One context per machine; their progress lines carry "(name) " when there are several."""
    return {n: context_of(ctx, prefix=f"({n}) " if len(names) > 1 else "") for n in names}


def seconds(value: float, flag: str) -> float:
    from machine.addresses import seconds_problem

    if why := seconds_problem(value):
        raise errors.UsageError(f"Error: {flag} {why}")
    return value


def checked(names: list[str]) -> list[str]:
    """`names`, each a valid machine name (else the command stops before touching anything)."""
    for name in names:
        validate_name(name)
    return names


def one_name(ctx: click.Context, names: list[str]) -> str:
    return one_name_in(store_of(ctx), names)


def one_name_in(store: Store, names: list[str]) -> str:
    """docker-machine's rule: no name means the machine called "default", if it exists."""
    if len(names) > 1:
        raise errors.UsageError("Error: Expected one machine name as an argument")
    if names:
        return checked(names)[0]
    if store.exists(DEFAULT_NAME):
        return DEFAULT_NAME
    raise errors.UsageError('Error: No machine name(s) specified and no "default" machine exists')


def names_or_default(ctx: click.Context, names: list[str]) -> list[str]:
    return names_or_default_in(store_of(ctx), names)


def names_or_default_in(store: Store, names: list[str]) -> list[str]:
    if names:
        return checked(names)
    return [one_name_in(store, [])]


def for_each(names: list[str], action: Any) -> None:
    """Run `action(name)` for each name concurrently; errors are joined, as docker-machine does."""
    if len(names) == 1:  # no pool for one machine: `ip NAME` in a loop stays cheap
        outcomes = [_capture(action)(names[0])]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(16, len(names)) or 1) as pool:
            outcomes = list(pool.map(_capture(action), names))
    failures: list[errors.MachineError] = [exc for exc in outcomes if exc is not None]
    if failures:
        message = "\n".join(f.message for f in failures)
        hint = "\n".join(f.hint for f in failures if f.hint)
        raise errors.MachineError(message, hint)


def _capture(action: Any) -> Any:
    def run(name: str) -> errors.MachineError | None:
        try:
            action(name)
        except errors.MachineError as exc:
            return exc
        return None

    return run
