"""Commands that change machines: rm, provision, regenerate-certs, start, stop, kill, restart,
upgrade; and the second half of create (after its flags are parsed)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

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


def run_create(ctx: click.Context, driver_class: Any, params: dict[str, Any]) -> None:
    from machine.cli import driverflags
    from machine.cli.create import default_driver
    from machine.ops import create as opcreate
    from machine.registry import default_registry
    from machine.store.record import EngineOptions

    words = list(params.get("name") or ())
    if not words:
        # docker-machine shows create's help (with the driver's flags), then the error
        print(ctx.get_help())
        raise errors.UsageError("Error: No machine name specified")
    if len(words) > 1:
        raise errors.UsageError(
            f"Invalid command line. Found extra arguments [{' '.join(words[1:])}]"
        )
    name = words[0]
    if _uses_classic_swarm(params):
        raise errors.UsageError(
            "Error: classic Swarm (--swarm, --swarm-master, --swarm-discovery, ...) is not "
            "supported: it was retired with docker-machine. Use the engine's own swarm mode: "
            "`create --swarm-init NAME`, `create --swarm-join MANAGER NAME`, or "
            f"`{globals_of(ctx).prog} swarm init|join|leave|ls`."
        )
    registry = default_registry()
    driver_name = params.get("driver") or default_driver(registry.usable_names())
    if not driver_name:
        raise errors.UsageError(
            "Error: No driver given: use -d DRIVER "
            f"(installed: {', '.join(registry.names()) or 'none'})"
        )
    # DriverNotFound, DriverLoadError, or DriverUnavailable naming the extra to install
    driver_class = registry.usable(driver_name)
    engine = EngineOptions(
        ArbitraryFlags=tuple(params["engine_opt"]),
        InsecureRegistry=tuple(params["engine_insecure_registry"]),
        RegistryMirror=tuple(params["engine_registry_mirror"]),
        Labels=tuple(params["engine_label"]),
        StorageDriver=params["engine_storage_driver"] or "",
        Env=tuple(params["engine_env"]),
        InstallURL=params["engine_install_url"] or "",
    )
    opts = opcreate.CreateOptions(
        name=name,
        driver=driver_class.name,
        driver_values=driverflags.values(driver_class.Config, params),
        engine=engine,
        tls_sans=tuple(params["tls_san"]),
        keep_on_failure=bool(params["keep_on_failure"]),
        wait_timeout=float(params["wait_timeout"]),
        client_files=_client_files(ctx),
    )
    if params.get("swarm_init") and params.get("swarm_join"):
        raise errors.UsageError("Error: --swarm-init and --swarm-join exclude each other")
    clustered = params.get("swarm_init") or params.get("swarm_join")
    if clustered and not driver_class.features.provisions_engine:
        raise errors.UsageError(f"Error: a {driver_class.name} machine has no engine to cluster")
    c = context_of(ctx)
    opcreate.create(c, opts)
    prog = globals_of(ctx).prog
    if clustered:
        _cluster(c, name, params, prog)
    if driver_class.features.provisions_engine:
        c.progress.note(f"Docker is up and running! ({c.progress.summary()})")
    c.progress.note(
        "To see how to connect your Docker Client to the Docker Engine running on this "
        f"virtual machine, run: {prog} env {name}"
    )


def _cluster(c: Any, name: str, params: dict[str, Any], prog: str) -> None:
    """The swarm step of create: the machine stays when it fails, and the message says how
    to try again."""
    from machine.ops import swarm

    advertise = params.get("swarm_advertise_addr") or ""
    manager = params.get("swarm_join") or ""
    try:
        if manager:
            c.progress.phase(f'Joining the swarm of "{manager}"...')
            swarm.join(c, name, manager, params.get("swarm_role") or "worker", advertise)
        else:
            c.progress.phase("Starting a swarm...")
            swarm.init(c, name, advertise)
    except errors.MachineError as exc:
        again = (
            f"{prog} swarm join {name} --manager {manager}"
            if manager
            else f"{prog} swarm init {name}"
        )
        raise errors.MachineError(
            f'Machine "{name}" was created, but {exc.message}', hint=f"Try again with `{again}`."
        ) from None


def _uses_classic_swarm(params: dict[str, Any]) -> bool:
    return bool(
        params.get("swarm")
        or params.get("swarm_master")
        or params.get("swarm_experimental")
        or params.get("swarm_discovery")
        or params.get("swarm_addr")
        or params.get("swarm_opt")
        or params.get("swarm_join_opt")
        or params.get("swarm_image") not in (None, "swarm:latest")
        or params.get("swarm_strategy") not in (None, "spread")
        or params.get("swarm_host") not in (None, "tcp://0.0.0.0:3376")
    )


def _client_files(ctx: click.Context) -> Any:
    """--tls-ca-cert, --tls-ca-key, --tls-client-cert, --tls-client-key; each defaults to the
    store's own file, and files that do not exist yet are created there."""
    g = globals_of(ctx)
    given = [g.tls_ca_cert, g.tls_ca_key, g.tls_client_cert, g.tls_client_key]
    if not any(given):
        return None
    from pathlib import Path

    from machine.tls.certstore import ClientFiles, store_files

    default = store_files(store_of(ctx).certs_dir)
    defaults = [default.ca_cert, default.ca_key, default.client_cert, default.client_key]
    return ClientFiles(
        *(Path(p).expanduser().absolute() if p else d for p, d in zip(given, defaults, strict=True))
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
