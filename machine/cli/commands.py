"""The commands other than create: each parses, calls ops (or reads the store), renders."""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Annotated, Any

import click
import typer

from machine import errors, paths
from machine.store import Store

DEFAULT_NAME = "default"


def _globals(ctx: click.Context) -> Any:
    return ctx.find_root().obj


def _store(ctx: click.Context) -> Store:
    g = _globals(ctx)
    return Store(g.storage_path, prog=g.prog)


def _context(ctx: click.Context, quiet: bool = False, prefix: str = "") -> Any:
    from machine.ops import Context
    from machine.progress import Progress
    from machine.registry import default_registry

    return Context(_store(ctx), default_registry(), Progress(quiet=quiet, prefix=prefix))


def _contexts(ctx: click.Context, names: list[str]) -> Any:
    """One context per machine; their progress lines carry "(name) " when there are several."""
    return {n: _context(ctx, prefix=f"({n}) " if len(names) > 1 else "") for n in names}


def _one_name(ctx: click.Context, names: list[str]) -> str:
    """docker-machine's rule: no name means the machine called "default", if it exists."""
    if len(names) > 1:
        raise errors.UsageError("Error: Expected one machine name as an argument")
    if names:
        return names[0]
    if _store(ctx).exists(DEFAULT_NAME):
        return DEFAULT_NAME
    raise errors.UsageError('Error: No machine name(s) specified and no "default" machine exists')


def _names(ctx: click.Context, names: list[str]) -> list[str]:
    if names:
        return names
    return [_one_name(ctx, [])]


def _for_each(names: list[str], action: Any) -> None:
    """Run `action(name)` for each name concurrently; errors are joined, as docker-machine does."""
    from concurrent.futures import ThreadPoolExecutor

    failures: list[errors.MachineError] = []
    with ThreadPoolExecutor(max_workers=min(16, len(names)) or 1) as pool:
        for name, exc in zip(names, pool.map(_capture(action), names), strict=True):
            if exc is not None:
                failures.append(exc)
                del name
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


# --- create ----------------------------------------------------------------------------------


def run_create(ctx: click.Context, driver_class: Any, params: dict[str, Any]) -> None:
    from machine import ops
    from machine.cli import driverflags
    from machine.cli.create import default_driver
    from machine.host import EngineOptions
    from machine.registry import default_registry

    name = params.get("name")
    if not name:
        raise errors.UsageError("Error: No machine name specified")
    if _uses_classic_swarm(params):
        raise errors.UsageError(
            "Error: classic Swarm (--swarm, --swarm-master, --swarm-discovery, ...) is not "
            "supported: it was retired with docker-machine. The engine's own swarm mode needs no "
            "flag at create time: run `docker swarm init` (then `docker swarm join`) through "
            f"`eval $({_globals(ctx).prog} env NAME)`."
        )
    registry = default_registry()
    driver_name = params.get("driver") or default_driver(registry.names())
    if not driver_name:
        raise errors.UsageError(
            "Error: No driver given: use -d DRIVER "
            f"(installed: {', '.join(registry.names()) or 'none'})"
        )
    if driver_class is None:
        driver_class = registry.get(driver_name)  # raises DriverNotFound / DriverLoadError
    engine = EngineOptions(
        ArbitraryFlags=tuple(params["engine_opt"]),
        InsecureRegistry=tuple(params["engine_insecure_registry"]),
        RegistryMirror=tuple(params["engine_registry_mirror"]),
        Labels=tuple(params["engine_label"]),
        StorageDriver=params["engine_storage_driver"] or "",
        Env=tuple(params["engine_env"]),
        InstallURL=params["engine_install_url"] or "",
    )
    opts = ops.CreateOptions(
        name=name,
        driver=driver_class.name,
        driver_values=driverflags.values(driver_class.Config, params),
        engine=engine,
        tls_sans=tuple(params["tls_san"]),
        keep_on_failure=bool(params["keep_on_failure"]),
        wait_timeout=float(params["wait_timeout"]),
        client_files=_client_files(ctx),
    )
    c = _context(ctx)
    ops.create(c, opts)
    prog = _globals(ctx).prog
    if driver_class.features.provisions_engine:
        c.progress.note(f"Docker is up and running! ({c.progress.summary()})")
    c.progress.note(
        "To see how to connect your Docker Client to the Docker Engine running on this "
        f"virtual machine, run: {prog} env {name}"
    )


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
    g = _globals(ctx)
    given = [g.tls_ca_cert, g.tls_ca_key, g.tls_client_cert, g.tls_client_key]
    if not any(given):
        return None
    from pathlib import Path

    from machine.certstore import ClientFiles, store_files

    default = store_files(_store(ctx).certs_dir)
    defaults = [default.ca_cert, default.ca_key, default.client_cert, default.client_key]
    return ClientFiles(
        *(Path(p).expanduser().absolute() if p else d for p, d in zip(given, defaults, strict=True))
    )


# --- reading commands ------------------------------------------------------------------------


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
) -> None:
    """Display the commands to set up the environment for the Docker client."""
    from machine import env as envmod

    names = names or []
    environ = dict(os.environ)
    if not shell:
        detected = envmod.detect_shell(environ)
        if detected is None:
            print(
                "The default lines below are for a sh/bash shell, you can specify the shell "
                "you're using, with the --shell flag.",
                file=sys.stderr,
            )
        shell = detected or "sh"
    argv = [_globals(ctx).prog, *sys.argv[1:]]
    var_names = ["DOCKER_TLS_VERIFY", "DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_MACHINE_NAME"]
    if unset:
        if names:
            raise errors.UsageError("Error: Expected no machine name when the -u flag is present")
        if no_proxy:
            var_names.append(envmod.no_proxy_name(environ))
        sys.stdout.write(envmod.render_unset(shell, var_names, argv))
        return
    if swarm:
        raise errors.MachineError(
            "Error: classic Swarm is not supported; the engine's swarm mode needs no --swarm"
        )
    name = _one_name(ctx, names)
    store = _store(ctx)
    url, ip, _ours = _url_for_env(ctx, store, name, "Error checking TLS connection: ")
    variables = [
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_HOST", url),
        ("DOCKER_CERT_PATH", str(store.machine_dir(name))),
        ("DOCKER_MACHINE_NAME", name),
    ]
    if no_proxy:
        variables.append(envmod.no_proxy(environ, ip))
    sys.stdout.write(envmod.render(shell, variables, argv))


def _url_for_env(ctx: click.Context, store: Store, name: str, prefix: str) -> tuple[str, str, bool]:
    """(engine URL, IP, whether the engine is behind TLS we issued rather than a `none`
    record's) from the record, after the local certificate check."""
    from machine import tlscheck
    from machine.registry import default_registry

    record = store.load(name)
    driver = default_registry().get(record.DriverName).from_json(record.Driver)
    url = driver.url()
    if not url:
        raise errors.HostNotRunning(name)
    ip = driver.endpoint().ip
    if driver.features.provisions_engine:
        tlscheck.verify(store.machine_dir(name), ip, name, _globals(ctx).prog, prefix)
    return url, ip, driver.features.provisions_engine


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
    from machine import listing
    from machine.registry import default_registry

    if extra:
        raise errors.UsageError(f"Invalid command line. Found extra arguments [{' '.join(extra)}]")
    store = _store(ctx)
    wanted = listing.Filters.parse(filters or [])
    if quiet and not filters:
        # names only: no record needs loading and no machine needs asking
        sys.stdout.write("".join(f"{name}\n" for name in store.list_names()))
        return
    c = _context(ctx, quiet=True)
    needs_state = bool(wanted.state) or not quiet
    items = listing.rows(c, timeout, wanted, query_engines=not quiet and needs_state)
    # Try every installed plugin so a broken one is reported even when no machine uses it
    # (drivers import their SDKs lazily, so this costs little).
    default_registry().load_all(warn=False)
    for name, why in default_registry().broken.items():
        print(f'Warning: driver plugin "{name}" is broken: {why}', file=sys.stderr)
    if quiet:
        sys.stdout.write("".join(f"{row.Name}\n" for row in items))
        return
    sys.stdout.write(listing.render(items, fmt))


def ip_cmd(ctx: typer.Context, names: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Get the IP address of a machine."""
    from machine import ops

    c = _context(ctx, quiet=True)
    results: dict[str, str] = {}

    def one(name: str) -> None:
        _record, driver = ops.load(c, name)
        results[name] = driver.endpoint().ip

    targets = _names(ctx, names or [])
    _for_each(targets, one)
    for name in targets:
        print(results[name])


def url_cmd(
    ctx: typer.Context, names: Annotated[list[str] | None, typer.Argument()] = None
) -> None:
    """Get the URL of a machine."""
    from machine import ops

    name = _one_name(ctx, names or [])
    _record, driver = ops.load(_context(ctx, quiet=True), name)
    print(driver.url())


def status_cmd(
    ctx: typer.Context, names: Annotated[list[str] | None, typer.Argument()] = None
) -> None:
    """Get the status of a machine."""
    from machine import ops

    name = _one_name(ctx, names or [])
    store = _store(ctx)
    if not store.exists(name):
        exc = errors.HostNotFound(name, store.prog)
        exc.exit_code = errors.EXIT_NOT_FOUND
        raise exc
    print(ops.state_of(_context(ctx, quiet=True), name).value)


def inspect_cmd(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument()] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Format the output using the given go template.")
    ] = "",
) -> None:
    """Inspect information about a machine."""
    from machine import ops
    from machine.host import record_to_json

    name = _one_name(ctx, names or [])
    c = _context(ctx, quiet=True)
    record = c.store.load(name)
    import contextlib

    with contextlib.suppress(errors.DriverNotFound):  # without its driver: the record as stored
        record = record.with_driver(ops.driver_for(c, record).to_json())
    data = record_to_json(record)
    if fmt:
        from machine.template import render

        sys.stdout.write(render(fmt, data) + "\n")
        return
    print(json.dumps(data, indent=4, ensure_ascii=False))


def config_cmd(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument()] = None,
    swarm: Annotated[
        bool, typer.Option("--swarm", help="Display the Swarm config instead of the Docker daemon")
    ] = False,
) -> None:
    """Print the connection config for machine."""
    from machine import dockerapi, ops

    name = _one_name(ctx, names or [])
    store = _store(ctx)
    prefix = "Error running connection boilerplate: "
    url, _ip, ours = _url_for_env(ctx, store, name, prefix)
    # Like docker-machine, `config` checks that the engine answers over TLS: autoscalers use
    # its exit code as a reachability probe. (`env` skips this to stay instant.)
    try:
        if ours:
            dockerapi.handshake(url, ops.tls_files(store, name), timeout=20.0)
    except (OSError, ValueError) as exc:
        raise errors.MachineError(
            f"{prefix}Error checking the host: {exc}",
            hint=f"Check that the machine is running (`{_globals(ctx).prog} status {name}`).",
        ) from None
    mdir = store.machine_dir(name)
    print(
        f'--tlsverify\n--tlscacert="{mdir / paths.CA_CERT}"\n'
        f'--tlscert="{mdir / paths.CLIENT_CERT}"\n--tlskey="{mdir / paths.CLIENT_KEY}"\n-H={url}'
    )


# --- commands that change machines -----------------------------------------------------------


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
    from machine import ops

    if not names:
        raise errors.UsageError("Error: No machine name(s) specified")
    print(f"About to remove {', '.join(names)}")
    print("WARNING: This action will delete both local reference and remote instance.")
    if not (yes or force):
        answer = input("Are you sure? (y/n): ")
        if not answer.lower().startswith("y"):
            return
    c = _context(ctx)
    failures: list[str] = []
    for name in names:
        try:
            ops.remove(c, name, force=force)
            print(f"Successfully removed {name}")
        except errors.MachineError as exc:
            failures.append(f'Error removing host "{name}": {exc.message}')
    if failures:
        raise errors.MachineError("\n".join(failures))


def provision_cmd(
    ctx: typer.Context, names: Annotated[list[str] | None, typer.Argument()] = None
) -> None:
    """Re-provision existing machines."""
    from machine import ops

    targets = _names(ctx, names or [])
    contexts = _contexts(ctx, targets)
    _for_each(targets, lambda name: ops.provision_machine(contexts[name], name))


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
    from machine import ops

    targets = _names(ctx, names or [])
    if not force:
        answer = input("Regenerate TLS machine certs?  Warning: this is irreversible. (y/n): ")
        if not answer.lower().startswith("y"):
            return
    contexts = _contexts(ctx, targets)
    if client_certs:
        ops.regenerate_client_certs(contexts[targets[0]])
    _for_each(targets, lambda name: ops.regenerate_certs(contexts[name], name))


def ssh_cmd(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument()] = None,
    command: Annotated[list[str] | None, typer.Argument()] = None,
) -> None:
    """Log into or run a command on a machine with SSH."""
    from machine import ops, ssh

    g = _globals(ctx)
    target_name = _one_name(ctx, [name] if name else [])
    _record, _driver, target = ops.ssh_endpoint(_context(ctx, quiet=True), target_name)
    words = list(command or [])
    if not g.native_ssh and shutil.which("ssh"):
        argv = ssh.openssh_argv(target, words, tty=not words and sys.stdin.isatty())
        sys.stdout.flush()
        os.execvp(argv[0], argv)  # noqa: S606 - ssh's exit code becomes ours
    import time

    code = ssh.run_interactive_paramiko(target, words, time.monotonic() + 30)
    raise typer.Exit(code)


# --- lifecycle -------------------------------------------------------------------------------


def _lifecycle(ctx: click.Context, names: list[str] | None, action: str, hint: str = "") -> None:
    from machine import ops

    targets = _names(ctx, names or [])
    contexts = _contexts(ctx, targets)
    operation = getattr(ops, action)
    _for_each(targets, lambda name: operation(contexts[name], name))
    if hint:
        prog = _globals(ctx).prog
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


def active_cmd(
    ctx: typer.Context,
    args: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", "-t", help="Timeout in seconds, default to 10s")
    ] = 10.0,
) -> None:
    """Print which machine is active."""
    from machine import listing

    if args:
        raise errors.UsageError("Error: Too many arguments given")
    if not os.environ.get("DOCKER_HOST"):
        raise errors.MachineError("No active host found")
    items = listing.rows(_context(ctx, quiet=True), timeout, query_engines=False)
    active = [row.Name for row in items if row.ActiveHost]
    if active:
        print(active[0])
        return
    if any(row.State == "Timeout" for row in items):
        raise errors.MachineError("Error getting active host: timeout")
    raise errors.MachineError("No active host found")


# --- files -----------------------------------------------------------------------------------


def _targets(ctx: click.Context, machines: set[str]) -> dict[str, Any]:
    from machine import ops

    c = _context(ctx, quiet=True)
    return {name: ops.ssh_endpoint(c, name)[2] for name in machines}


def _require_tool(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        raise errors.MachineError(
            f"{tool} is not installed on this computer",
            hint=f"Install it, e.g. `apt-get install {package}`.",
        )


def _run_tool(argv: list[str]) -> int:
    import subprocess

    return subprocess.call(argv)


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
    from machine import transfer

    source, target = transfer.parse_location(src), transfer.parse_location(dst)
    _require_tool(*(("rsync", "rsync") if delta else ("scp", "openssh-client")))
    machines = {loc.machine for loc in (source, target) if loc.machine}
    with transfer.config_file(_targets(ctx, machines)) as config:
        if delta:
            code = _run_tool(transfer.rsync_argv(config, source, target, recursive, quiet))
        else:
            code = _run_tool(transfer.scp_argv(config, source, target, recursive, quiet))
    if code:
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
    from machine import transfer

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
        config = _store(ctx).machine_dir(source.machine) / paths.SSH_CONFIG
        from machine.files import write_atomic

        write_atomic(config, transfer.ssh_config(targets))
        code = _run_tool(transfer.sshfs_argv(str(config), source, mountpoint))
    if code:
        raise typer.Exit(code)


def version_cmd(ctx: typer.Context, name: Annotated[str | None, typer.Argument()] = None) -> None:
    """Show the version information (of this tool, or of a machine's engine)."""
    from machine.cli.main import VERSION

    if not name:
        print(f"{_globals(ctx).prog} version {VERSION}")
        return
    from machine import dockerapi, ops

    c = _context(ctx, quiet=True)
    _record, driver = ops.load(c, name)
    print(dockerapi.version(driver.url(), ops.tls_files(c.store, name)))


def register(app: typer.Typer) -> None:
    settings = {"allow_interspersed_args": True}
    app.command("env", context_settings=settings)(env_cmd)
    app.command("ls")(ls_cmd)
    app.command("ip")(ip_cmd)
    app.command("url")(url_cmd)
    app.command("status")(status_cmd)
    app.command("inspect")(inspect_cmd)
    app.command("config")(config_cmd)
    app.command("rm")(rm_cmd)
    app.command("provision")(provision_cmd)
    app.command("regenerate-certs")(regenerate_certs_cmd)
    app.command(
        "ssh", context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True}
    )(ssh_cmd)
    app.command("version")(version_cmd)
    app.command("start")(start_cmd)
    app.command("stop")(stop_cmd)
    app.command("restart")(restart_cmd)
    app.command("kill")(kill_cmd)
    app.command("upgrade")(upgrade_cmd)
    app.command("active")(active_cmd)
    app.command("scp")(scp_cmd)
    app.command("mount")(mount_cmd)
