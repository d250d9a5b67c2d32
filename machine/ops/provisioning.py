"""The provisioning half: certificates for a machine, then one pass of the provisioner over SSH,
then waiting for the engine to answer over TLS. Used by create, `provision` and
`regenerate-certs` (and by start/restart when a machine's address changed)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from machine.driver import BootImage, Driver, Endpoint
from machine.errors import MachineError, NotSupported, program
from machine.ops.context import (
    DEFAULT_WAIT,
    Context,
    finishing,
    load,
    require_running,
    ssh_target,
    tls_files,
)
from machine.store import paths
from machine.store.filestore import Store
from machine.store.journal import Journal
from machine.store.record import EngineOptions, HostRecord

if TYPE_CHECKING:
    from machine.docker.engine import EngineConfig
    from machine.provision.host import Remote
    from machine.provision.run import Outcome, Plan
    from machine.tls.certstore import ClientFiles


def bootstrap_certs(
    store: Store, files: ClientFiles | None = None, regenerate: bool = False
) -> None:
    """The CA and client pair, made once (the store's own unless `files` name others)."""
    from machine.tls import certstore

    store.ensure_layout()
    certstore.bootstrap(files or certstore.store_files(store.certs_dir), store.root, regenerate)


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
    from machine.tls import certs, certstore

    auth = record.HostOptions.AuthOptions
    files = certstore.record_files(auth, store.certs_dir)
    mdir = store.machine_dir(record.Name)
    cert_path = Path(auth.ServerCertPath) if auth.ServerCertPath else mdir / paths.SERVER_CERT
    key_path = Path(auth.ServerKeyPath) if auth.ServerKeyPath else mdir / paths.SERVER_KEY
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


def seeded_engine_files(
    store: Store, record: HostRecord, ep: Endpoint, image: BootImage
) -> dict[str, tuple[bytes, int]]:
    """The engine's files for a new host booting `image` (which ships dockerd) at `ep`: a
    server certificate made now for that endpoint and kept in the machine's folder, and the
    daemon's settings as a provisioning pass will want them, byte for byte."""
    from machine.provision.run import seeded_files

    plan = _plan(store, record, ep, new_server_cert=True)
    return seeded_files(plan, image.dockerd, image.dockerd_unit)


def _plan(store: Store, record: HostRecord, ep: Endpoint, new_server_cert: bool) -> Plan:
    """What a provisioning pass (or a seed) sets up on the host of `record` at `ep`."""
    from machine.provision.run import Plan

    ca_pem, cert_pem, key_pem = _server_pair(store, record, ep, new_server_cert)
    return Plan(
        hostname=record.Name,
        engine=engine_config(record, ep),
        install_url=record.HostOptions.EngineOptions.InstallURL,
        ca_pem=ca_pem,
        server_cert_pem=cert_pem,
        server_key_pem=key_pem,
    )


def _expires_soon(cert_pem: bytes) -> bool:
    import datetime as dt

    from machine.tls import certs

    return certs.is_expired(cert_pem, dt.datetime.now(dt.UTC) + dt.timedelta(days=30))


def engine_config(record: HostRecord, ep: Endpoint) -> EngineConfig:
    return options_config(
        record.HostOptions.EngineOptions, record.DriverName, ep.engine_listen_port or ep.engine_port
    )


def options_config(eo: EngineOptions, driver_name: str, port: int) -> EngineConfig:
    """The daemon's configuration that a machine's engine options ask for."""
    from machine.docker.engine import EngineConfig

    return EngineConfig(
        port=port,
        driver_name=driver_name,
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


def provision(
    ctx: Context,
    record: HostRecord,
    driver: Driver,
    deadline: float,
    journal: Journal | None,
    new_server_cert: bool,
    replace_seeded_key: bool = False,
) -> Outcome:
    from machine.docker import dockerapi
    from machine.provision.run import provision
    from machine.remote import ssh

    store, progress = ctx.store, ctx.progress

    def at(step: str) -> None:
        if journal is not None:
            journal.at(step.rstrip("."))
        progress.phase(step)

    ep = driver.endpoint()
    at("Waiting for SSH to be available...")
    target = ssh_target(store, record.Name, ep)
    mdir = store.machine_dir(record.Name)
    with ssh.session(target, deadline, retry_auth=driver.features.fresh_host) as conn:
        if replace_seeded_key:
            from machine.provision.run import replace_host_key

            at("Replacing the seeded SSH host key...")
            ssh.pin_public_line(target, replace_host_key(conn))
        plan = _plan(store, record, ep, new_server_cert)
        try:
            outcome = provision(conn, plan, at, backed_up=lambda: _mark_saved(mdir, ep))
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
        except BaseException as exc:  # Ctrl-C too: the host goes back to how it was
            if saved_on_host(mdir):
                note = _put_back(store, record, driver, conn)
                if isinstance(exc, MachineError):
                    exc.hint = (exc.hint + "\n" if exc.hint else "") + note
                else:
                    progress.note(note)
            raise
        if saved_on_host(mdir):
            from machine.provision.run import discard_backup

            discard_backup(conn)
            (mdir / paths.HOST_SAVED).unlink(missing_ok=True)
    if journal is None:  # a create writes the context once it has finished
        update_context(ctx, record, driver)
    return outcome


def update_context(ctx: Context, record: HostRecord, driver: Driver) -> None:
    """The machine's docker context follows its engine URL and TLS files. A failure is a
    note: the machine itself is fine, and `machine use` writes the context again."""
    from machine.docker import contexts

    name = record.Name
    try:
        written = contexts.write(name, driver.url(), ctx.store.machine_dir(name), ctx.store.root)
    except (OSError, MachineError) as exc:
        ctx.progress.note(f'The docker context "{name}" could not be written: {exc}')
        return
    if not written:
        ctx.progress.note(
            f'A docker context named "{name}" exists and was not made for this machine: '
            "it was left as it is."
        )


def ensure_context(ctx: Context, name: str) -> None:
    """Machine `name`'s docker context, written when it is missing or stale (machines made
    before contexts, or by docker-machine); refused when a context of that name is not ours."""
    from machine.docker import contexts

    _record, driver = load(ctx, name)
    if not driver.features.provisions_engine:
        raise MachineError(
            f'Machine "{name}" is a record of an engine elsewhere ({driver.name} driver): it '
            "has no docker context of its own"
        )
    try:
        written = contexts.write(name, driver.url(), ctx.store.machine_dir(name), ctx.store.root)
    except OSError as exc:
        raise MachineError(f'The docker context "{name}" could not be written: {exc}') from None
    if not written:
        raise MachineError(
            f'A docker context named "{name}" exists and was not made for this machine',
            hint=f"Remove or rename it (docker context rm {name}), or use `env` without --context.",
        )


def use_context(ctx: Context, name: str | None) -> None:
    """Make machine `name`'s context the docker CLI's current one (None: the default)."""
    from machine.docker import contexts

    if name is not None:
        ensure_context(ctx, name)
    try:
        contexts.use(name)
    except OSError as exc:
        raise MachineError(f"The docker CLI's config could not be written: {exc}") from None


def saved_on_host(machine_dir: Path) -> bool:
    """The host holds its settings from before a provisioning pass that did not finish."""
    return (machine_dir / paths.HOST_SAVED).exists()


def _mark_saved(machine_dir: Path, ep: Endpoint) -> None:
    import json
    import time as clock

    from machine.store.files import PRIVATE_FILE, write_atomic

    note = {"host": ep.ssh_host, "since": clock.strftime("%Y-%m-%dT%H:%M:%SZ", clock.gmtime())}
    write_atomic(machine_dir / paths.HOST_SAVED, json.dumps(note) + "\n", PRIVATE_FILE)


def _put_back(store: Store, record: HostRecord, driver: Driver, conn: Remote | None) -> str:
    """Restore the host's saved settings (over `conn` if it still works, else a new
    connection); a line for the user saying what happened."""
    from machine.provision.run import restore_host
    from machine.remote import ssh

    name = record.Name
    prog = program()
    try:
        try:
            if conn is None:
                raise OSError("no connection")
            restored = restore_host(conn)
        except Exception:  # the connection died with the failure: a new one
            target = ssh_target(store, name, driver.endpoint())
            with ssh.session(target, time.monotonic() + 60) as fresh:
                restored = restore_host(fresh)
    except Exception as exc:
        return (
            f"Putting the host's settings back failed ({exc}). `{prog} provision {name}` "
            f"finishes the provisioning, or `{prog} rm -y {name}` puts the host back."
        )
    (store.machine_dir(name) / paths.HOST_SAVED).unlink(missing_ok=True)
    if not restored.done:
        return "The host had no saved settings to put back."
    note = "The host's settings and its Docker engine were put back as they were."
    if restored.engine_stays:
        note += " The engine this run installed stays installed, stopped and disabled."
    return note


def restore_saved_host(ctx: Context, record: HostRecord, driver: Driver) -> str:
    """For rm (and a create's roll-back): the host back as it was before an unfinished pass."""
    return _put_back(ctx.store, record, driver, None)


def provision_machine(ctx: Context, name: str, wait_timeout: float = DEFAULT_WAIT) -> Outcome:
    with ctx.store.locked(name), finishing(ctx.progress):
        record, driver = load(ctx, name)
        if not driver.features.provisions_engine:
            raise NotSupported(f'Machine "{name}" ({record.DriverName}) has no host to provision')
        require_running(name, driver)
        deadline = time.monotonic() + wait_timeout
        outcome = provision(ctx, record, driver, deadline, None, new_server_cert=False)
        _finished(ctx.store.machine_dir(name))
        return outcome


def _finished(machine_dir: Path) -> None:
    """A create that was killed mid-way is complete once a provisioning pass has succeeded."""
    from machine.store.journal import READY

    journal = Journal.read(machine_dir)
    if journal is not None and journal.phase != READY:
        journal.finish(READY)


def regenerate_client_certs(ctx: Context) -> None:
    """A new CA and client cert for the whole store (every machine then needs new server certs)."""
    bootstrap_certs(ctx.store, regenerate=True)


def regenerate_certs(ctx: Context, name: str, wait_timeout: float = DEFAULT_WAIT) -> None:
    """A new server cert for `name`, installed by a provisioning pass."""
    with ctx.store.locked(name), finishing(ctx.progress):
        record, driver = load(ctx, name)
        if not driver.features.provisions_engine:
            raise NotSupported(f'Machine "{name}" ({record.DriverName}) has no certificates')
        require_running(name, driver)
        ctx.progress.phase("Regenerating TLS certificates")
        deadline = time.monotonic() + wait_timeout
        provision(ctx, record, driver, deadline, None, new_server_cert=True)
