"""`create`, top to bottom: read it to know what happens on create.

Everything it makes is written to the journal as soon as it exists; any failure or Ctrl-C
removes it all again (unless --keep-on-failure), so the store never keeps a half-created machine.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from machine.driver import DEFAULT_ENGINE_PORT, BootImage, CreateRequest, Driver, Endpoint
from machine.errors import (
    CreateFailed,
    HostAlreadyExists,
    MachineError,
    PreCreateCheckFailed,
    Terminated,
    program,
)
from machine.frozen import field, frozen
from machine.ops.bootimage import boot_image
from machine.ops.context import DEFAULT_WAIT, Context, auth_options, finishing
from machine.ops.provisioning import (
    bootstrap_certs,
    options_config,
    provision,
    restore_saved_host,
    saved_on_host,
    seeded_engine_files,
    update_context,
)
from machine.store import paths
from machine.store.filestore import Store, validate_name
from machine.store.journal import FAILED, READY, Journal
from machine.store.record import EngineOptions, HostOptions, HostRecord

if TYPE_CHECKING:
    from machine.tls.certstore import ClientFiles


@frozen
class CreateOptions:
    name: str
    driver: str
    driver_values: dict[str, Any]  # config field name -> value, from flags/env/defaults
    engine: EngineOptions = field(default_factory=EngineOptions)
    tls_sans: tuple[str, ...] = ()
    keep_on_failure: bool = False
    wait_timeout: float = DEFAULT_WAIT
    client_files: ClientFiles | None = None  # --tls-ca-cert and friends; None: the store's


def check_options(opts: CreateOptions) -> None:
    """What can be found wrong without the host is found now: nothing is made or changed."""
    from machine.addresses import registry_problem, san_problem, seconds_problem
    from machine.docker.engine import option_problems

    eo = opts.engine
    problems = [f"--wait-timeout {why}"] if (why := seconds_problem(opts.wait_timeout)) else []
    problems += option_problems(options_config(eo, opts.driver, DEFAULT_ENGINE_PORT), eo.InstallURL)
    problems += [
        f"--engine-insecure-registry: {why}"
        for registry in eo.InsecureRegistry
        if (why := registry_problem(registry))
    ]
    problems += [f"--tls-san: {why}" for san in opts.tls_sans if (why := san_problem(san))]
    if problems:
        raise PreCreateCheckFailed(problems[0], hint="\n".join(problems[1:]))


def create(ctx: Context, opts: CreateOptions) -> HostRecord:
    validate_name(opts.name, creating=True)
    check_options(opts)
    cls = ctx.registry.usable(opts.driver)  # installed, with its SDK
    store = ctx.store
    config = cls.Config(**opts.driver_values, MachineName=opts.name, StorePath=str(store.root))
    driver = cls(config)
    driver.store_root = store.root
    progress = ctx.progress

    if store.config_path(opts.name).exists():
        raise _exists(store, opts.name)
    with store.locked(opts.name, timeout=2.0), finishing(progress):
        if store.exists(opts.name):  # made by another process while we waited, or left
            _claim_unfinished(store, opts.name)
        bootstrap_certs(store, opts.client_files)
        progress.phase("Running pre-create checks...")
        try:
            driver.learn(driver.pre_create_check())
            # the image is fetched (or converted) now, as docker-machine fetched its ISO here:
            # a failure makes nothing
            image = boot_image(ctx, driver)
        except PreCreateCheckFailed:
            raise
        except MachineError as exc:
            raise PreCreateCheckFailed(exc.message, exc.hint) from exc

        mdir = store.create_dir(opts.name)
        journal = Journal.start(mdir)
        record = HostRecord(
            Name=opts.name,
            DriverName=cls.name,
            Driver=driver.to_json(),
            HostOptions=HostOptions(
                Driver=cls.name,
                EngineOptions=opts.engine,
                AuthOptions=auth_options(store, opts.name, opts.tls_sans, opts.client_files),
            ),
        )
        store.save(record)
        try:
            record = _create_steps(ctx, opts, driver, record, journal, image)
        except BaseException as exc:  # Ctrl-C included: never leave half a machine behind
            progress.finish()
            raise _rollback(ctx, opts, driver, journal, exc) from exc
        journal.finish(READY)
        if driver.features.provisions_engine:
            update_context(ctx, record, driver)
    return record


def _exists(store: Store, name: str) -> HostAlreadyExists:
    journal = Journal.read(store.machine_dir(name))
    if journal is not None and journal.phase != READY:
        return HostAlreadyExists(
            name, hint=f"Its create did not finish: remove it with `{program()} rm -y {name}`."
        )
    return HostAlreadyExists(name)


def _claim_unfinished(store: Store, name: str) -> None:
    """A folder left by a create killed before it saved a record (we hold the lock, so no
    create is running) holds nothing outside the store: it does not block the name."""
    journal = Journal.read(store.machine_dir(name))
    if store.config_path(name).exists() or (journal is not None and journal.resources):
        raise _exists(store, name)
    store.remove(name)


def _create_steps(
    ctx: Context,
    opts: CreateOptions,
    driver: Driver,
    record: HostRecord,
    journal: Journal,
    image: BootImage | None,
) -> HostRecord:
    store, progress = ctx.store, ctx.progress
    mdir = store.machine_dir(opts.name)
    key_path = mdir / paths.SSH_KEY
    public_key = ""
    if driver.features.makes_ssh_key:
        journal.at("Creating SSH key")
        progress.phase("Creating SSH key...")
        public_key = _make_ssh_key(key_path)
    host_private, host_public = "", ""
    if driver.features.seeds_host_key:
        # The guest gets this host key through its seed, and we pin it now: the first SSH
        # contact is already verified (docker-machine never checked host keys at all).
        host_private_pem, host_public = certs_ssh_keypair()
        host_private = host_private_pem.decode()
        _pin(mdir / paths.KNOWN_HOSTS, opts.name, host_public)

    deadline = time.monotonic() + opts.wait_timeout
    seeded: list[Endpoint] = []  # where the engine files the driver seeded were made for
    engine_files = None
    if driver.features.provisions_engine and image is not None and image.dockerd:
        boot_image = image

        def engine_files(ep: Endpoint) -> Mapping[str, tuple[bytes, int]]:
            seeded.append(ep)
            return seeded_engine_files(store, record, ep, boot_image)

    journal.at("Creating machine")
    progress.phase("Creating machine...")
    learned = driver.create(
        CreateRequest(
            machine_dir=mdir,
            ssh_key_path=key_path,
            ssh_public_key=public_key,
            engine_port=DEFAULT_ENGINE_PORT,
            record=journal.record,
            host_key_private=host_private,
            host_key_public=host_public,
            deadline=deadline,
            note=progress.note,
            store_id=store.identity(),
            image=image,
            engine_files=engine_files,
        )
    )
    driver.learn(learned)
    record = record.with_driver(driver.to_json())
    store.save(record)
    if not driver.features.provisions_engine:
        return record

    # The seed that carried the host key stays readable (user data, an ISO): once the pinned
    # key is proven, the host gets a new one of its own. A server certificate already seeded
    # for this endpoint is kept (the pass then finds the engine's files as they should be).
    replace = driver.features.seeds_host_key
    new_cert = not seeded or seeded[-1] != driver.endpoint()
    provision(ctx, record, driver, deadline, journal, new_cert, replace_seeded_key=replace)
    if seeded:  # the seed held the engine's key: the host has it, nobody else may
        try:
            driver.discard_seed()
        except MachineError as exc:
            progress.note(f"The machine's seed could not be removed: {exc}")
    return record


def _rollback(
    ctx: Context, opts: CreateOptions, driver: Driver, journal: Journal, exc: BaseException
) -> MachineError:
    step = journal.step or "Creating machine"
    why = (
        "terminated"
        if isinstance(exc, Terminated)
        else "interrupted"
        if isinstance(exc, KeyboardInterrupt)
        else str(exc) or type(exc).__name__
    )
    hint = exc.hint if isinstance(exc, MachineError) else ""
    if opts.keep_on_failure:
        journal.finish(FAILED)
        return CreateFailed(
            f'Error creating machine: Error in step "{step}": {why}',
            hint=f"The machine was kept for inspection (--keep-on-failure). Remove it with "
            f"`rm -f {opts.name}`." + (f" {hint}" if hint else ""),
        )
    undone = "the machine's record and files"
    with _uninterruptible():
        mdir = ctx.store.machine_dir(opts.name)
        if saved_on_host(mdir) and not driver.features.owns_host:
            record = ctx.store.load(opts.name)
            note = restore_saved_host(ctx, record, driver)  # provisioning's own try failed
            if saved_on_host(mdir):
                journal.finish(FAILED)
                return CreateFailed(
                    f'Error creating machine: Error in step "{step}": {why}',
                    hint=f"{note} The machine's record is kept until then.",
                )
        try:
            if journal.resources:  # drivers record all they make: nothing made, nothing to ask
                # a create that failed returned nothing: the journal names what it made
                driver.learn(driver.adopt([(r["kind"], r["id"]) for r in journal.resources]))
                driver.remove()
        except Exception as remove_exc:  # keep the record so `rm -f` can try again
            journal.finish(FAILED)
            return CreateFailed(
                f'Error creating machine: Error in step "{step}": {why}. '
                f"Removing what was created also failed: {remove_exc}",
                hint=f"Run `rm -f {opts.name}` to retry the removal.",
            )
        ctx.store.remove(opts.name)
    if journal.resources:
        undone = ", ".join(f"{r['kind']} {r['id']}" for r in journal.resources) + ", " + undone
    return CreateFailed(
        f'Error creating machine: Error in step "{step}": {why}',
        hint=f"Removed {undone}." + (f" {hint}" if hint else ""),
    )


@contextlib.contextmanager
def _uninterruptible() -> Iterator[None]:
    """A second Ctrl-C or SIGTERM must not cut the cleanup short and leak what it removes."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # signals only reach the main thread anyway
        return
    kept = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            signal.signal(sig, handler)


def certs_ssh_keypair() -> tuple[bytes, str]:
    from machine.tls import certs

    return certs.ssh_keypair()


def _pin(known_hosts: Path, alias: str, public_line: str) -> None:
    from machine.store.files import PRIVATE_FILE, write_atomic

    write_atomic(known_hosts, f"{alias} {public_line.strip()}\n", PRIVATE_FILE)


def _make_ssh_key(path: Path) -> str:
    from machine.store.files import PRIVATE_FILE, write_atomic
    from machine.tls import certs

    private, public = certs.ssh_keypair()
    write_atomic(path, private, PRIVATE_FILE)
    write_atomic(path.with_name(paths.SSH_PUBLIC_KEY), public + "\n", PRIVATE_FILE)
    return public
