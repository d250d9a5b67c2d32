"""What every operation needs: the store, the driver registry, progress; records and drivers.

Helpers shared by the operations live here too (paths of a machine's TLS files, its SSH
target), so the create, provisioning and lifecycle modules do not import each other's privates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from machine.driver import Driver, Endpoint, State
from machine.errors import HostNotRunning
from machine.progress import Progress
from machine.registry import Registry
from machine.store import paths
from machine.store.filestore import Store
from machine.store.record import AuthOptions, HostRecord

if TYPE_CHECKING:  # imported lazily at run time: env/ls must not pay for ssh or TLS modules
    from machine.docker.dockerapi import TLSFiles
    from machine.remote.ssh import Target
    from machine.tls.certstore import ClientFiles

DEFAULT_WAIT = 180.0  # seconds create waits for SSH and for the engine (docker-machine: 60×3 s)


class Context:
    """What every operation works with: the store, the drivers, where progress goes."""

    __slots__ = ("progress", "registry", "store")

    def __init__(self, store: Store, registry: Registry, progress: Progress | None = None) -> None:
        self.store = store
        self.registry = registry
        self.progress = progress if progress is not None else Progress()


def auth_options(
    store: Store, name: str, sans: tuple[str, ...] = (), files: ClientFiles | None = None
) -> AuthOptions:
    """The record's TLS paths: the store's CA and client pair unless `files` names others."""
    certs_dir = store.certs_dir
    mdir = store.machine_dir(name)
    return AuthOptions(
        CertDir=str(certs_dir),
        CaCertPath=str(files.ca_cert if files else certs_dir / paths.CA_CERT),
        CaPrivateKeyPath=str(files.ca_key if files else certs_dir / paths.CA_KEY),
        ServerCertPath=str(mdir / paths.SERVER_CERT),
        ServerKeyPath=str(mdir / paths.SERVER_KEY),
        ClientKeyPath=str(files.client_key if files else certs_dir / paths.CLIENT_KEY),
        ClientCertPath=str(files.client_cert if files else certs_dir / paths.CLIENT_CERT),
        ServerCertSANs=sans,
        StorePath=str(mdir),
    )


def driver_for(ctx: Context, record: HostRecord) -> Driver:
    where = f"{ctx.store.machine_dir_text(record.Name)}/{paths.CONFIG}"  # for its errors
    driver = ctx.registry.driver(record, where)
    driver.store_root = ctx.store.root
    return driver


def load(ctx: Context, name: str) -> tuple[HostRecord, Driver]:
    record = ctx.store.load(name)
    return record, driver_for(ctx, record)


def ssh_target(store: Store, name: str, ep: Endpoint) -> Target:
    from machine.remote import ssh

    return ssh.Target(
        host=ep.ssh_host,
        port=ep.ssh_port,
        user=ep.ssh_user,
        key_path=ep.ssh_key_path,
        known_hosts=store.machine_dir(name) / paths.KNOWN_HOSTS,
        alias=name,
    )


def tls_files(store: Store, name: str) -> TLSFiles:
    from machine.docker.dockerapi import TLSFiles

    mdir = store.machine_dir(name)
    return TLSFiles(
        str(mdir / paths.CA_CERT), str(mdir / paths.CLIENT_CERT), str(mdir / paths.CLIENT_KEY)
    )


@contextlib.contextmanager
def finishing(progress: Progress) -> Iterator[None]:
    """Stop the progress display however the block ends (a spinner must not outlive it)."""
    try:
        yield
    finally:
        progress.finish()


def require_running(name: str, driver: Driver) -> None:
    state = driver.state()
    if state not in (State.RUNNING, State.NONE):
        raise HostNotRunning(name)
