"""Resources this store made and no machine owns: find them, and remove them when asked.

Only drivers that tag what they make (amazonec2) can tell; each is asked with every machine of
its kind in the store, including what a cut-short create recorded in its journal. If a machine
of the store cannot be loaded, its resources would look orphaned: removal is then refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from machine.driver import Driver, Orphan
from machine.errors import MachineError
from machine.ops.context import Context, load
from machine.ops.lifecycle import adopt_unsaved
from machine.store import paths


@dataclass
class Found:
    orphans: list[tuple[str, Orphan]]  # (driver name, orphan)
    unreadable: list[str]  # machines whose record or driver did not load


def find(ctx: Context, only: list[str] | None = None) -> Found:
    store = ctx.store
    if not (store.root / paths.STORE_ID).exists():
        return Found([], [])  # this store never made a tagged resource
    store_id = store.identity()
    owned: dict[str, list[Driver]] = {}
    unreadable: list[str] = []
    for name in store.list_names():
        try:
            record, driver = load(ctx, name)
        except MachineError:
            unreadable.append(name)
            continue
        adopt_unsaved(store.machine_dir(name), driver)
        owned.setdefault(record.DriverName, []).append(driver)
    found: list[tuple[str, Orphan]] = []
    for driver_name, cls in sorted(ctx.registry.load_all(warn=False).items()):
        if cls.name != driver_name or (only and driver_name not in only):
            continue  # an alias, or not asked for (drivers that tag nothing answer [])
        if cls.missing_sdk():
            if only:  # asked for by name: say what to install
                ctx.registry.usable(driver_name)
            continue
        found += [(driver_name, o) for o in cls.orphans(owned.get(driver_name, []), store_id)]
    return Found(found, unreadable)


def remove(ctx: Context, driver_name: str, orphan: Orphan) -> None:
    ctx.registry.usable(driver_name).remove_orphan(orphan)
