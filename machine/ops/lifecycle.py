"""Operations on existing machines: remove, state, SSH endpoint (start/stop/kill/restart next)."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import TYPE_CHECKING

from machine.driver import Driver, State
from machine.errors import HostNotFound, HostNotRunning, MachineError, NotSupported
from machine.host import HostRecord
from machine.ops.context import Context, load, ssh_target

if TYPE_CHECKING:
    from machine.ssh import Target


def remove(ctx: Context, name: str, force: bool = False) -> None:
    """Remove what the driver made, then the record; with force the record goes regardless."""
    store = ctx.store
    with store.locked(name, timeout=5.0 if not force else 30.0):
        if not store.exists(name):
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
