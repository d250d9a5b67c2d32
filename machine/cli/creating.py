"""The second half of `machine create`, after its flags are parsed (by click in create.py, or
by createflags.parse on the fast path): the same function for both, so that they say the same.

No command-line framework is imported here.
"""

from __future__ import annotations

from typing import Any

from machine import errors
from machine.cli.common import Globals, context_for
from machine.store.filestore import Store


def run(g: Globals, params: dict[str, Any]) -> None:
    """Create the machine `params` describe (create's parameters, as click or
    createflags.parse gives them), then say how to reach it."""
    from machine.cli import createflags
    from machine.ops import create as opcreate
    from machine.registry import default_registry
    from machine.store.record import EngineOptions

    words = list(params.get("name") or ())
    if not words:
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
            f"`{g.prog} swarm init|join|leave|ls`."
        )
    registry = default_registry()
    driver_name = params.get("driver") or createflags.default_driver(registry.usable_names())
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
        driver_values=createflags.values(driver_class.Config, params),
        engine=engine,
        tls_sans=tuple(params["tls_san"]),
        keep_on_failure=bool(params["keep_on_failure"]),
        wait_timeout=float(params["wait_timeout"]),
        client_files=_client_files(g),
    )
    if params.get("swarm_init") and params.get("swarm_join"):
        raise errors.UsageError("Error: --swarm-init and --swarm-join exclude each other")
    clustered = params.get("swarm_init") or params.get("swarm_join")
    if clustered and not driver_class.features.provisions_engine:
        raise errors.UsageError(f"Error: a {driver_class.name} machine has no engine to cluster")
    c = context_for(Store(g.storage_path))
    opcreate.create(c, opts)
    prog = g.prog
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


def _client_files(g: Globals) -> Any:
    """--tls-ca-cert, --tls-ca-key, --tls-client-cert, --tls-client-key; each defaults to the
    store's own file, and files that do not exist yet are created there."""
    given = [g.tls_ca_cert, g.tls_ca_key, g.tls_client_cert, g.tls_client_key]
    if not any(given):
        return None
    from pathlib import Path

    from machine.tls.certstore import ClientFiles, store_files

    default = store_files(Store(g.storage_path).certs_dir)
    defaults = [default.ca_cert, default.ca_key, default.client_cert, default.client_key]
    return ClientFiles(
        *(Path(p).expanduser().absolute() if p else d for p, d in zip(given, defaults, strict=True))
    )
