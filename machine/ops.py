"""The only place that sequences steps: create, provision, regenerate-certs, start/stop, rm.

Read `create` top to bottom to know what happens on create. Everything it makes is written to
the journal as soon as it exists; any failure or Ctrl-C removes it all again (unless
--keep-on-failure), so the store never keeps a half-created machine.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from machine import paths
from machine.driver import CreateRequest, Driver, Endpoint, State
from machine.errors import (
    CreateFailed,
    HostAlreadyExists,
    HostNotRunning,
    MachineError,
    NotSupported,
    PreCreateCheckFailed,
)
from machine.host import AuthOptions, EngineOptions, HostOptions, HostRecord
from machine.journal import FAILED, READY, Journal
from machine.progress import Progress
from machine.registry import Registry
from machine.store import Store, validate_name

if TYPE_CHECKING:  # imported lazily at run time: env/ls must not pay for ssh or TLS modules
    from machine.dockerapi import TLSFiles
    from machine.engine import EngineConfig
    from machine.provision.run import Outcome
    from machine.ssh import Target

DEFAULT_WAIT = 180.0  # seconds create waits for SSH and for the engine (docker-machine: 60×3 s)


@dataclass
class Context:
    store: Store
    registry: Registry
    progress: Progress = field(default_factory=Progress)


@dataclass(frozen=True)
class CreateOptions:
    name: str
    driver: str
    driver_values: dict[str, Any]  # config field name -> value, from flags/env/defaults
    engine: EngineOptions = field(default_factory=EngineOptions)
    tls_sans: tuple[str, ...] = ()
    keep_on_failure: bool = False
    wait_timeout: float = DEFAULT_WAIT


# --- records and drivers ---------------------------------------------------------------------


def auth_options(store: Store, name: str, sans: tuple[str, ...] = ()) -> AuthOptions:
    certs_dir = str(store.certs_dir)
    mdir = store.machine_dir(name)
    return AuthOptions(
        CertDir=certs_dir,
        CaCertPath=str(store.certs_dir / paths.CA_CERT),
        CaPrivateKeyPath=str(store.certs_dir / paths.CA_KEY),
        ServerCertPath=str(mdir / paths.SERVER_CERT),
        ServerKeyPath=str(mdir / paths.SERVER_KEY),
        ClientKeyPath=str(store.certs_dir / paths.CLIENT_KEY),
        ClientCertPath=str(store.certs_dir / paths.CLIENT_CERT),
        ServerCertSANs=sans,
        StorePath=str(mdir),
    )


def driver_for(ctx: Context, record: HostRecord) -> Driver:
    cls = ctx.registry.get(record.DriverName)
    return cls.from_json(record.Driver)


def load(ctx: Context, name: str) -> tuple[HostRecord, Driver]:
    record = ctx.store.load(name)
    return record, driver_for(ctx, record)


# --- create ----------------------------------------------------------------------------------


def create(ctx: Context, opts: CreateOptions) -> HostRecord:
    validate_name(opts.name)
    cls = ctx.registry.get(opts.driver)
    store = ctx.store
    config = cls.Config(**opts.driver_values, MachineName=opts.name, StorePath=str(store.root))
    driver = cls(config)
    progress = ctx.progress

    if store.exists(opts.name):
        raise HostAlreadyExists(opts.name)
    with store.locked(opts.name, timeout=2.0), _finishing(progress):
        if store.exists(opts.name):  # made by another process while we waited
            raise HostAlreadyExists(opts.name)
        _bootstrap_certs(store)
        progress.phase("Running pre-create checks...")
        try:
            driver.pre_create_check()
        except PreCreateCheckFailed:
            raise
        except MachineError as exc:
            raise PreCreateCheckFailed(exc.message) from exc

        mdir = store.create_dir(opts.name)
        journal = Journal.start(mdir)
        record = HostRecord(
            Name=opts.name,
            DriverName=cls.name,
            Driver=driver.to_json(),
            HostOptions=HostOptions(
                Driver=cls.name,
                EngineOptions=opts.engine,
                AuthOptions=auth_options(store, opts.name, opts.tls_sans),
            ),
        )
        store.save(record)
        try:
            record = _create_steps(ctx, opts, driver, record, journal)
        except BaseException as exc:  # Ctrl-C included: never leave half a machine behind
            progress.finish()
            raise _rollback(ctx, opts, driver, journal, exc) from exc
        journal.finish(READY)
    return record


def _create_steps(
    ctx: Context, opts: CreateOptions, driver: Driver, record: HostRecord, journal: Journal
) -> HostRecord:
    store, progress = ctx.store, ctx.progress
    mdir = store.machine_dir(opts.name)
    key_path = mdir / paths.SSH_KEY
    public_key = ""
    if driver.features.makes_ssh_key:
        journal.at("Creating SSH key")
        progress.phase("Creating SSH key...")
        public_key = _make_ssh_key(key_path)

    journal.at("Creating machine")
    progress.phase("Creating machine...")
    driver.create(
        CreateRequest(
            machine_dir=mdir,
            ssh_key_path=key_path,
            ssh_public_key=public_key,
            engine_port=2376,
            record=journal.record,
        )
    )
    record = record.with_driver(driver.to_json())
    store.save(record)
    if not driver.features.provisions_engine:
        return record

    deadline = time.monotonic() + opts.wait_timeout
    _provision(ctx, record, driver, deadline, journal, new_server_cert=True)
    return record


def _rollback(
    ctx: Context, opts: CreateOptions, driver: Driver, journal: Journal, exc: BaseException
) -> MachineError:
    step = journal.step or "Creating machine"
    why = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc) or type(exc).__name__
    hint = exc.hint if isinstance(exc, MachineError) else ""
    if opts.keep_on_failure:
        journal.finish(FAILED)
        return CreateFailed(
            f'Error creating machine: Error in step "{step}": {why}',
            hint=f"The machine was kept for inspection (--keep-on-failure). Remove it with "
            f"`rm -f {opts.name}`." + (f" {hint}" if hint else ""),
        )
    undone = "the machine's record and files"
    try:
        driver.remove()
    except Exception as remove_exc:  # keep the record so `rm -f` can try again
        journal.finish(FAILED)
        return CreateFailed(
            f'Error creating machine: Error in step "{step}": {why}. '
            f"Removing what was created also failed: {remove_exc}",
            hint=f"Run `rm -f {opts.name}` to retry the removal.",
        )
    if journal.resources:
        undone = ", ".join(f"{r['kind']} {r['id']}" for r in journal.resources) + ", " + undone
    ctx.store.remove(opts.name)
    return CreateFailed(
        f'Error creating machine: Error in step "{step}": {why}',
        hint=f"Removed {undone}." + (f" {hint}" if hint else ""),
    )


def _make_ssh_key(path: Path) -> str:
    from machine import certs
    from machine.files import PRIVATE_FILE, write_atomic

    private, public = certs.ssh_keypair()
    write_atomic(path, private, PRIVATE_FILE)
    write_atomic(path.with_name(paths.SSH_PUBLIC_KEY), public + "\n", PRIVATE_FILE)
    return public


def _bootstrap_certs(store: Store, regenerate: bool = False) -> None:
    from machine import certstore

    store.ensure_layout()
    certstore.bootstrap(certstore.store_files(store.certs_dir), store.root, regenerate)


# --- provisioning (create's second half, `provision`, `regenerate-certs`) --------------------


def ssh_target(store: Store, name: str, ep: Endpoint) -> Target:
    from machine import ssh

    return ssh.Target(
        host=ep.ssh_host,
        port=ep.ssh_port,
        user=ep.ssh_user,
        key_path=ep.ssh_key_path,
        known_hosts=store.machine_dir(name) / paths.KNOWN_HOSTS,
        alias=name,
    )


def server_cert_hosts(record: HostRecord, ep: Endpoint) -> list[str]:
    """SANs: each --tls-san, every address the engine is reached at, the name, localhost."""
    hosts = [*record.HostOptions.AuthOptions.ServerCertSANs, ep.ip]
    if ep.ssh_host and ep.ssh_host != ep.ip:
        hosts.append(ep.ssh_host)
    hosts += [record.Name, "localhost"]
    if ep.ip in ("127.0.0.1", "localhost"):
        hosts.append("127.0.0.1")
    return hosts


def _server_pair(
    store: Store, record: HostRecord, ep: Endpoint, regenerate: bool
) -> tuple[bytes, bytes, bytes]:
    """(ca, server cert, server key): the stored server pair when still right, else a new one."""
    from machine import certs, certstore

    files = certstore.store_files(store.certs_dir)
    mdir = store.machine_dir(record.Name)
    cert_path, key_path = mdir / paths.SERVER_CERT, mdir / paths.SERVER_KEY
    ca_pem = files.ca_cert.read_bytes()
    hosts = server_cert_hosts(record, ep)
    if not regenerate and cert_path.exists() and key_path.exists():
        cert_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
        finding = certs.check_server_cert(ca_pem, cert_pem, key_pem, [ep.ip])
        if finding.problem is certs.Problem.OK and not _expires_soon(cert_pem):
            return ca_pem, cert_pem, key_pem
    pair = certstore.issue_server_cert(files, record.Name, hosts, cert_path, key_path)
    certstore.copy_client_files(files, mdir)
    return ca_pem, pair.cert_pem, pair.key_pem


def _expires_soon(cert_pem: bytes) -> bool:
    import datetime as dt

    from machine import certs

    return certs.is_expired(cert_pem, dt.datetime.now(dt.UTC) + dt.timedelta(days=30))


def engine_config(record: HostRecord, ep: Endpoint) -> EngineConfig:
    from machine.engine import EngineConfig

    eo = record.HostOptions.EngineOptions
    return EngineConfig(
        port=ep.engine_port,
        driver_name=record.DriverName,
        labels=eo.Labels,
        insecure_registries=eo.InsecureRegistry,
        registry_mirrors=eo.RegistryMirror,
        storage_driver=eo.StorageDriver,
        arbitrary_flags=eo.ArbitraryFlags,
        env=eo.Env,
        log_level=eo.LogLevel,
        data_root=eo.GraphDir,
        ipv6=eo.Ipv6,
        selinux=eo.SelinuxEnabled,
    )


def tls_files(store: Store, name: str) -> TLSFiles:
    from machine.dockerapi import TLSFiles

    mdir = store.machine_dir(name)
    return TLSFiles(
        str(mdir / paths.CA_CERT), str(mdir / paths.CLIENT_CERT), str(mdir / paths.CLIENT_KEY)
    )


def _provision(
    ctx: Context,
    record: HostRecord,
    driver: Driver,
    deadline: float,
    journal: Journal | None,
    new_server_cert: bool,
) -> Outcome:
    from machine import dockerapi, ssh
    from machine.provision.run import Plan, provision

    store, progress = ctx.store, ctx.progress

    def at(step: str) -> None:
        if journal is not None:
            journal.at(step.rstrip("."))
        progress.phase(step)

    ep = driver.endpoint()
    at("Waiting for SSH to be available...")
    target = ssh_target(store, record.Name, ep)
    with ssh.session(target, deadline, retry_auth=driver.features.fresh_host) as conn:
        ca_pem, cert_pem, key_pem = _server_pair(store, record, ep, new_server_cert)
        plan = Plan(
            hostname=record.Name,
            engine=engine_config(record, ep),
            install_url=record.HostOptions.EngineOptions.InstallURL,
            ca_pem=ca_pem,
            server_cert_pem=cert_pem,
            server_key_pem=key_pem,
        )
        outcome = provision(conn, plan, at)
        at("Checking connection to Docker...")
        try:
            dockerapi.wait_until_up(ep.docker_url, tls_files(store, record.Name), deadline)
        except MachineError as exc:
            from machine.provision.host import RootShell
            from machine.provision.run import engine_log_tail

            shell = RootShell(conn, is_root=ep.ssh_user == "root")
            tail = engine_log_tail(shell, "systemd")
            if tail:
                exc.hint = (exc.hint + " " if exc.hint else "") + "Engine log:\n" + tail
            raise
    return outcome


def provision_machine(ctx: Context, name: str, wait_timeout: float = DEFAULT_WAIT) -> Outcome:
    with ctx.store.locked(name), _finishing(ctx.progress):
        record, driver = load(ctx, name)
        if not driver.features.provisions_engine:
            raise NotSupported(f'Machine "{name}" ({record.DriverName}) has no host to provision')
        _require_running(name, driver)
        deadline = time.monotonic() + wait_timeout
        return _provision(ctx, record, driver, deadline, None, new_server_cert=False)


def regenerate_client_certs(ctx: Context) -> None:
    """A new CA and client cert for the whole store (every machine then needs new server certs)."""
    _bootstrap_certs(ctx.store, regenerate=True)


def regenerate_certs(ctx: Context, name: str, wait_timeout: float = DEFAULT_WAIT) -> None:
    """A new server cert for `name`, installed by a provisioning pass."""
    with ctx.store.locked(name), _finishing(ctx.progress):
        record, driver = load(ctx, name)
        if not driver.features.provisions_engine:
            raise NotSupported(f'Machine "{name}" ({record.DriverName}) has no certificates')
        _require_running(name, driver)
        ctx.progress.phase("Regenerating TLS certificates")
        deadline = time.monotonic() + wait_timeout
        _provision(ctx, record, driver, deadline, None, new_server_cert=True)


@contextlib.contextmanager
def _finishing(progress: Progress) -> Iterator[None]:
    """Stop the progress display however the block ends (a spinner must not outlive it)."""
    try:
        yield
    finally:
        progress.finish()


def _require_running(name: str, driver: Driver) -> None:
    state = driver.state()
    if state not in (State.RUNNING, State.NONE):
        raise HostNotRunning(name)


# --- lifecycle -------------------------------------------------------------------------------


def remove(ctx: Context, name: str, force: bool = False) -> None:
    """Remove what the driver made, then the record; with force the record goes regardless."""
    store = ctx.store
    with store.locked(name, timeout=5.0 if not force else 30.0):
        if not store.exists(name):
            from machine.errors import HostNotFound

            raise HostNotFound(name, store.prog)
        try:
            _record, driver = load(ctx, name)
            driver.remove()
        except MachineError:
            if not force:
                raise
        except Exception:  # a broken record or driver: only -f gets past it
            if not force:
                raise
        store.remove(name)


def state_of(ctx: Context, name: str) -> State:
    _record, driver = load(ctx, name)
    return driver.state()


def set_driver_state(ctx: Context, record: HostRecord, driver: Driver) -> HostRecord:
    new = replace(record, Driver=driver.to_json())
    ctx.store.save(new)
    return new


def ssh_endpoint(ctx: Context, name: str) -> tuple[HostRecord, Driver, Target]:
    record, driver = load(ctx, name)
    if not driver.features.provisions_engine:
        raise NotSupported(f'Machine "{name}" ({record.DriverName}) has no SSH endpoint')
    with contextlib.suppress(NotSupported):
        if driver.state() not in (State.RUNNING, State.NONE):
            raise HostNotRunning(name)
    return record, driver, ssh_target(ctx.store, name, driver.endpoint())
