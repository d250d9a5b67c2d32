"""The commands that read machines (env, ls, ip, url, status, inspect, config, active,
version) as plain functions of the global options and their arguments: the typer commands
(reading.py) and the fast path (fast.py) both call these, so their output is one."""

from __future__ import annotations

import json
import os
import sys

from machine import errors
from machine.cli.common import (
    Globals,
    context_for,
    for_each,
    names_or_default_in,
    one_name_in,
    seconds,
)
from machine.store import paths
from machine.store.filestore import Store


def env(
    g: Globals,
    names: list[str],
    shell: str = "",
    unset: bool = False,
    no_proxy: bool = False,
    swarm: bool = False,
    context: bool = False,
) -> None:
    """Display the commands to set up the environment for the Docker client."""
    from machine.render import env as envmod

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
    argv = [g.prog, *sys.argv[1:]]
    var_names = ["DOCKER_TLS_VERIFY", "DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_MACHINE_NAME"]
    if context:
        var_names.append("DOCKER_CONTEXT")
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
    store = g.store()
    name = one_name_in(store, names)
    url, ip, _ours = url_for_env(store, name, "Error checking TLS connection: ")
    if context:
        from machine.ops import provisioning

        provisioning.ensure_context(context_for(store, quiet=True), name)
        unset_names = [n for n in var_names if n != "DOCKER_CONTEXT"]
        sys.stdout.write(envmod.render_switch(shell, unset_names, [("DOCKER_CONTEXT", name)], argv))
        return
    variables = [
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_HOST", url),
        ("DOCKER_CERT_PATH", str(store.machine_dir(name))),
        ("DOCKER_MACHINE_NAME", name),
    ]
    if no_proxy:
        variables.append(envmod.no_proxy(environ, ip))
    try:
        text = envmod.render(shell, variables, argv)
    except envmod.UnsafeValue as exc:
        raise errors.MachineError(
            f"Error: {exc}", hint=f"Nothing was printed, so nothing can run in your {shell}."
        ) from None
    sys.stdout.write(text)


def url_for_env(store: Store, name: str, prefix: str) -> tuple[str, str, bool]:
    """(engine URL, IP, whether the engine is behind TLS we issued rather than a `none`
    record's) from the record, after the local certificate check."""
    from machine.registry import default_registry
    from machine.tls import tlscheck

    record = store.load(name)
    driver = default_registry().driver(record, str(store.config_path(name)))
    driver.store_root = store.root
    url = driver.url()
    if not url:
        raise errors.HostNotRunning(name)
    ip = driver.endpoint().ip
    if driver.features.provisions_engine:
        tlscheck.verify(store.machine_dir(name), ip, name, prefix)
    return url, ip, driver.features.provisions_engine


def ls(
    g: Globals,
    extra: list[str],
    quiet: bool = False,
    timeout: float = 10.0,
    fmt: str = "",
    filters: list[str] | None = None,
) -> None:
    """List machines."""
    if extra:
        raise errors.UsageError(f"Invalid command line. Found extra arguments [{' '.join(extra)}]")
    store = g.store()
    if quiet and not filters:
        # names only: no record needs loading, no machine needs asking, no listing code
        timeout = seconds(timeout, "--timeout")
        store.prune_locks()
        sys.stdout.write("".join(f"{name}\n" for name in store.list_names()))
        return
    from machine.ops import listing
    from machine.registry import default_registry

    wanted = listing.Filters.parse(filters or [])
    timeout = seconds(timeout, "--timeout")
    store.prune_locks()
    c = context_for(store, quiet=True)
    # ask backends and engines only for what the output shows (or a state filter needs)
    states, engines = (False, False) if quiet else listing.queries_for(fmt)
    items = listing.rows(
        c, timeout, wanted, query_engines=engines, query_states=states or bool(wanted.state)
    )
    # Try every installed plugin so a broken one is reported even when no machine uses it
    # (drivers import their SDKs lazily, so this costs little).
    default_registry().load_all(warn=False)
    for name, why in default_registry().broken.items():
        print(f'Warning: driver plugin "{name}" is broken: {why}', file=sys.stderr)
    if quiet:
        sys.stdout.write("".join(f"{row.Name}\n" for row in items))
        return
    sys.stdout.write(listing.render(items, fmt))


def ip(g: Globals, names: list[str]) -> None:
    """Get the IP address of a machine."""
    from machine.ops import context as opcontext

    c = context_for(g.store(), quiet=True)
    results: dict[str, str] = {}

    def one(name: str) -> None:
        _record, driver = opcontext.load(c, name)
        results[name] = driver.endpoint().ip

    targets = names_or_default_in(c.store, names)
    for_each(targets, one)
    for name in targets:
        print(results[name])


def url(g: Globals, names: list[str]) -> None:
    """Get the URL of a machine."""
    from machine.ops import context as opcontext

    store = g.store()
    name = one_name_in(store, names)
    _record, driver = opcontext.load(context_for(store, quiet=True), name)
    print(driver.url())


def status(g: Globals, names: list[str]) -> None:
    """Get the status of a machine."""
    from machine.ops import context as opcontext

    store = g.store()
    name = one_name_in(store, names)
    if not store.exists(name):
        exc = errors.HostNotFound(name)
        exc.exit_code = errors.EXIT_NOT_FOUND
        raise exc
    _record, driver = opcontext.load(context_for(store, quiet=True), name)
    print(driver.state().value)


def inspect(g: Globals, names: list[str], fmt: str = "") -> None:
    """Inspect information about a machine."""
    import contextlib

    from machine.ops import context as opcontext
    from machine.ops.swarm import membership
    from machine.store.record import record_to_json

    c = context_for(g.store(), quiet=True)
    name = one_name_in(c.store, names)
    record = c.store.load(name)
    with contextlib.suppress(errors.DriverNotFound):  # without its driver: the record as stored
        record = record.with_driver(opcontext.driver_for(c, record).to_json())
    data = record_to_json(record)
    if swarm := membership(c.store, name):  # a key of its own: docker-machine's stay as they were
        data["SwarmMode"] = {
            "Role": swarm["role"],
            "Swarm": swarm["first"],
            "AdvertiseAddr": swarm["advertise"],
        }
    if fmt:
        from machine.render.template import render

        sys.stdout.write(render(fmt, data) + "\n")
        return
    print(json.dumps(data, indent=4, ensure_ascii=False))


def config(g: Globals, names: list[str], swarm: bool = False) -> None:
    """Print the connection config for machine."""
    from machine.docker import dockerapi
    from machine.ops import context as opcontext

    if swarm:
        raise errors.MachineError(
            "Error: classic Swarm is not supported; the engine's swarm mode needs no --swarm"
        )
    store = g.store()
    name = one_name_in(store, names)
    prefix = "Error running connection boilerplate: "
    url, _ip, ours = url_for_env(store, name, prefix)
    # Like docker-machine, `config` checks that the engine answers over TLS: autoscalers use
    # its exit code as a reachability probe. (`env` skips this to stay instant.)
    import ssl

    prog = g.prog
    try:
        if ours:
            dockerapi.handshake(url, opcontext.tls_files(store, name), timeout=20.0)
    except ssl.SSLError as exc:  # it answered, and the certificates do not fit
        raise errors.MachineError(
            f"{prefix}Error checking the TLS connection to {url}: "
            f"{getattr(exc, 'verify_message', '') or exc.reason or exc}",
            hint="The engine and this store do not trust each other's certificates (a new CA, "
            f"or certificates replaced on the host). Run `{prog} regenerate-certs {name}`.",
        ) from None
    except (OSError, ValueError) as exc:
        raise errors.MachineError(
            f"{prefix}Error checking the host: {exc}",
            hint=f"Check that the machine is running (`{prog} status {name}`).",
        ) from None
    mdir = store.machine_dir(name)
    print(
        f'--tlsverify\n--tlscacert="{mdir / paths.CA_CERT}"\n'
        f'--tlscert="{mdir / paths.CLIENT_CERT}"\n--tlskey="{mdir / paths.CLIENT_KEY}"\n-H={url}'
    )


def active(g: Globals, args: list[str], timeout: float = 10.0) -> None:
    """Print which machine is active."""
    from machine.ops import listing

    if args:
        raise errors.UsageError("Error: Too many arguments given")
    docker_host = os.environ.get("DOCKER_HOST", "")
    if not docker_host:
        raise errors.MachineError("No active host found")
    # only the machines $DOCKER_HOST names are asked whether they run: one host that hangs
    # elsewhere in the store does not make `active` fail
    items = listing.rows(
        context_for(g.store(), quiet=True),
        seconds(timeout, "--timeout"),
        query_engines=False,
        ask=lambda row: docker_host == row.URL,
    )
    active = [row.Name for row in items if row.ActiveHost]
    if active:
        print(active[0])
        return
    if any(row.State == "Timeout" for row in items):
        raise errors.MachineError("Error getting active host: timeout")
    raise errors.MachineError("No active host found")


def version(g: Globals, name: str | None = None) -> None:
    """Show the version information (of this tool, or of a machine's engine)."""
    from machine.cli.about import version_line

    if name is None:
        print(version_line(g.prog))
        return
    from machine.docker import dockerapi
    from machine.ops import context as opcontext

    c = context_for(g.store(), quiet=True)
    name = one_name_in(c.store, [name])
    _record, driver = opcontext.load(c, name)
    url = driver.url()
    try:
        print(dockerapi.version(url, opcontext.tls_files(c.store, name)))
    except (OSError, ValueError) as exc:
        raise errors.MachineError(
            f'Error getting the Docker version of "{name}" at {url or "(no URL)"}: {exc}',
            hint=f"Check that the machine is running (`{g.prog} status {name}`).",
        ) from None
