"""Operations on existing machines: start, stop, kill, restart, upgrade, remove, state.

Messages are docker-machine's ("Starting "web"...", "Machine "web" is already running.").
After a machine boots, its engine is waited for over TLS; if the machine came back at an address
its server certificate does not cover, a new certificate is issued and installed first, so
`env` keeps working (docker-machine left users with an x509 error and `regenerate-certs`).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

from machine.driver import Driver, State
from machine.errors import (
    HostNotFound,
    HostNotRunning,
    MachineError,
    NotSupported,
    StateError,
    Unfinished,
)
from machine.frozen import replace
from machine.ops.context import DEFAULT_WAIT, Context, finishing, load, ssh_target, tls_files
from machine.ops.provisioning import provision
from machine.store.record import HostRecord
from machine.wait import attempts

if TYPE_CHECKING:
    from machine.remote.ssh import Target

REBOOT_MARKER = "/run/machine-reboot-pending"  # /run is a tmpfs: a reboot empties it


def start(ctx: Context, name: str, wait_timeout: float = DEFAULT_WAIT) -> None:
    deadline = time.monotonic() + wait_timeout
    with ctx.store.locked(name), finishing(ctx.progress):
        record, driver = load(ctx, name)
        ctx.progress.phase(f'Starting "{name}"...')
        _require(driver, "start")  # before any query of the backend
        if driver.state() is State.RUNNING:
            raise StateError(f'Machine "{name}" is already running.')
        driver.learn(driver.start())
        _wait_for_state(driver, State.RUNNING, deadline, name)
        record = set_driver_state(ctx, record, driver)
        ctx.progress.note(f'Machine "{name}" was started.')
        _after_boot(ctx, record, driver, deadline)


def stop(ctx: Context, name: str, wait_timeout: float = DEFAULT_WAIT) -> None:
    _power_off(ctx, name, wait_timeout, kill=False)


def kill(ctx: Context, name: str, wait_timeout: float = DEFAULT_WAIT) -> None:
    _power_off(ctx, name, wait_timeout, kill=True)


def _power_off(ctx: Context, name: str, wait_timeout: float, kill: bool) -> None:
    deadline = time.monotonic() + wait_timeout
    with ctx.store.locked(name), finishing(ctx.progress):
        record, driver = load(ctx, name)
        ctx.progress.phase(f'{"Killing" if kill else "Stopping"} "{name}"...')
        _require(driver, "kill" if kill else "stop")
        if driver.state() is State.STOPPED:
            raise StateError(f'Machine "{name}" is already stopped.')
        driver.learn((driver.kill if kill else driver.stop)())
        _wait_for_state(driver, State.STOPPED, deadline, name)
        set_driver_state(ctx, record, driver)
        ctx.progress.note(f'Machine "{name}" was {"killed" if kill else "stopped"}.')


def restart(ctx: Context, name: str, wait_timeout: float = DEFAULT_WAIT) -> None:
    deadline = time.monotonic() + wait_timeout
    with ctx.store.locked(name), finishing(ctx.progress):
        record, driver = load(ctx, name)
        ctx.progress.phase(f'Restarting "{name}"...')
        if not driver.features.reboots_over_ssh:
            _require(driver, "restart")
        state = driver.state()
        if state is State.STOPPED and driver.supports("start"):
            driver.learn(driver.start())
        elif driver.features.reboots_over_ssh:
            _reboot_over_ssh(ctx, record, driver, deadline)
        else:
            driver.learn(driver.restart())
        _wait_for_state(driver, State.RUNNING, deadline, name)
        record = set_driver_state(ctx, record, driver)
        _after_boot(ctx, record, driver, deadline)


def _require(driver: Driver, operation: str) -> None:
    if not driver.supports(operation):
        raise NotSupported(f"{driver.name} driver does not support {operation}")


def _wait_for_state(driver: Driver, wanted: State, deadline: float, name: str) -> None:
    state = State.NONE
    for _ in attempts(deadline):
        state = driver.state()
        if state is wanted:
            return
    raise MachineError(
        f'Machine "{name}" did not become {wanted.value.lower()} in time '
        f"(it is {state.value or 'in no known state'})"
    )


def _after_boot(ctx: Context, record: HostRecord, driver: Driver, deadline: float) -> None:
    """Wait for the engine; first re-issue the server cert if the address changed."""
    if not driver.features.provisions_engine:
        return
    from machine.docker import dockerapi
    from machine.errors import CertificateProblem
    from machine.tls import tlscheck

    ep = driver.endpoint()
    try:
        tlscheck.verify(ctx.store.machine_dir(record.Name), ep.ip, record.Name, "")
    except CertificateProblem:
        ctx.progress.phase("The machine's address changed: issuing a new server certificate...")
        provision(ctx, record, driver, deadline, None, new_server_cert=True)
        return
    ctx.progress.phase("Waiting for the Docker engine...")
    dockerapi.wait_until_up(ep.docker_url, tls_files(ctx.store, record.Name), deadline)


def _reboot_over_ssh(ctx: Context, record: HostRecord, driver: Driver, deadline: float) -> None:
    from machine.remote import ssh

    target = ssh_target(ctx.store, record.Name, driver.endpoint())
    with ssh.session(target, deadline) as conn:
        sudo = "" if conn.run("id -u").stdout.strip() == "0" else "sudo -n "
        # Leave a marker in /run, then reboot in the background so this command can return.
        result = conn.run(
            f"{sudo}sh -c 'touch {REBOOT_MARKER} && "
            "(sleep 1; shutdown -r now) >/dev/null 2>&1 </dev/null &'"
        )
        if not result.ok:
            raise MachineError(f'Could not reboot "{record.Name}": {result.stderr.strip()}')
    ctx.progress.phase("Waiting for the machine to reboot...")
    for _ in attempts(deadline, first=0.5, factor=1.5, pause_first=True):
        with contextlib.suppress(OSError, EOFError, MachineError, TimeoutError):
            conn = ssh.connect_once(target, timeout=3)
            try:
                if conn.run(f"test -e {REBOOT_MARKER}").code != 0:
                    return  # up again, and /run is new: the reboot happened
            finally:
                conn.close()
    raise MachineError(f'Machine "{record.Name}" did not come back after its reboot')


def upgrade(ctx: Context, name: str, wait_timeout: float = DEFAULT_WAIT) -> str:
    """Upgrade the engine with the host's package manager (or install script); its new version."""
    from machine.docker import dockerapi
    from machine.provision.run import upgrade_engine
    from machine.remote import ssh

    deadline = time.monotonic() + wait_timeout
    with ctx.store.locked(name), finishing(ctx.progress):
        record, driver = load(ctx, name)
        if not driver.features.provisions_engine:
            raise NotSupported(f'Machine "{name}" ({record.DriverName}) has no engine to upgrade')
        if driver.state() is State.STOPPED and driver.supports("start"):
            driver.learn(driver.start())
            _wait_for_state(driver, State.RUNNING, deadline, name)
            record = set_driver_state(ctx, record, driver)
        ep = driver.endpoint()
        ctx.progress.phase("Upgrading docker...")
        with ssh.session(ssh_target(ctx.store, name, ep), deadline) as conn:
            upgrade_engine(conn, record.HostOptions.EngineOptions.InstallURL, ctx.progress.phase)
        return dockerapi.wait_until_up(ep.docker_url, tls_files(ctx.store, name), deadline)


def remove(ctx: Context, name: str, force: bool = False) -> None:
    """Remove what the driver made, then the record; with force the record goes regardless."""
    store = ctx.store
    with store.locked(name, timeout=5.0 if not force else 30.0):
        if not store.exists(name):
            raise HostNotFound(name)
        try:
            record, driver = load(ctx, name)
            _leave_swarm(ctx, name, force)
            _put_host_back(ctx, record, driver, force)
            adopt_unsaved(store.machine_dir(name), driver)
            driver.remove()
        except Unfinished:
            _check_nothing_made(store.machine_dir(name), name, force)
        except MachineError:
            if not force:
                raise
        except Exception:  # a broken record or driver: only -f gets past it
            if not force:
                raise
        store.remove(name)
    from machine.docker import contexts

    try:
        contexts.remove(name, store.root)
    except OSError as exc:
        ctx.progress.note(f'The docker context "{name}" could not be removed: {exc}')


def _leave_swarm(ctx: Context, name: str, force: bool) -> None:
    """A swarm node is drained and leaves before its host goes (refused when that would leave
    the swarm's workers without a manager or its managers without quorum, unless forced)."""
    from machine.ops import swarm

    if not swarm.in_swarm(ctx, name):
        return
    try:
        swarm.leave(ctx, name, force)
    except MachineError:
        if not force:
            raise


def _put_host_back(ctx: Context, record: HostRecord, driver: Driver, force: bool) -> None:
    """A provisioning pass that never finished left the host's old settings saved on it: a
    host that stays (an existing server) gets them back before its record goes."""
    from machine.ops.provisioning import restore_saved_host, saved_on_host

    mdir = ctx.store.machine_dir(record.Name)
    if driver.features.owns_host or not saved_on_host(mdir):
        return
    note = restore_saved_host(ctx, record, driver)
    if saved_on_host(mdir) and not force:
        raise MachineError(note, hint="`rm -f` removes the record without putting it back.")
    ctx.progress.note(note)


def _check_nothing_made(machine_dir: Path, name: str, force: bool) -> None:
    """A create killed before it saved the record made nothing outside the store (the record
    is saved before the driver makes anything), unless its journal says otherwise."""
    from machine.store.journal import Journal

    journal = Journal.read(machine_dir)
    if journal is None or not journal.resources or force:
        return
    made = ", ".join(f"{r['kind']} {r['id']}" for r in journal.resources)
    raise MachineError(
        f'Machine "{name}" has no record, but its journal lists what its create made: {made}',
        hint=f"Delete those by hand, then remove the folder with `rm -f {name}`.",
    )


def adopt_unsaved(machine_dir: Path, driver: Driver) -> None:
    """A create killed outright (SIGKILL, power loss) saved no config after its driver made
    things; its journal lists them, and the driver takes them in before removing."""
    from machine.store.journal import READY, Journal

    journal = Journal.read(machine_dir)
    if journal is not None and journal.phase != READY and journal.resources:
        driver.learn(driver.adopt([(r["kind"], r["id"]) for r in journal.resources]))


def set_driver_state(ctx: Context, record: HostRecord, driver: Driver) -> HostRecord:
    new = replace(record, Driver=driver.to_json())
    if new.Driver != record.Driver:
        ctx.store.save(new)
    return new


def ssh_endpoint(ctx: Context, name: str) -> tuple[HostRecord, Driver, Target]:
    record, driver = load(ctx, name)
    if not driver.features.provisions_engine:
        raise NotSupported(f'Machine "{name}" ({record.DriverName}) has no SSH endpoint')
    with contextlib.suppress(NotSupported):
        if driver.state() not in (State.RUNNING, State.NONE):
            raise HostNotRunning(name)
    target = ssh_target(ctx.store, name, driver.endpoint())
    _pin_host_key(target)
    return record, driver, target


def _pin_host_key(target: Target) -> None:
    """Machines made by docker-machine have no pinned key: pin it now (trust on first use),
    so OpenSSH, scp, rsync and sshfs can then check it strictly."""
    from machine.remote import ssh

    if ssh.usable_pins(target) is not None:
        return  # pinned (a pin file without a usable key is refused right there)
    ssh.connect(target, time.monotonic() + 30).close()
