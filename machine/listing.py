"""`machine ls`: every machine's row, queried concurrently under one deadline for the command.

Records are read without locks. States are asked per driver in one batch (`Driver.states`), so
a cloud driver can make one API call per region. The engine's version is asked over TLS only
for running machines. Whatever has not answered when the deadline passes shows as Timeout.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from machine import journal as journal_mod
from machine.driver import Driver, State
from machine.errors import MachineError
from machine.host import HostRecord
from machine.ops import Context, driver_for, tls_files
from machine.store import Store

MAX_WORKERS = 64


@dataclass
class Row:
    Name: str
    DriverName: str = ""
    State: str = ""
    URL: str = ""
    Active: str = "-"
    Swarm: str = ""
    DockerVersion: str = ""
    Error: str = ""
    record: HostRecord | None = None


def rows(ctx: Context, timeout: float, query_engines: bool = True) -> list[Row]:
    """One row per machine, natural-sorted by name; the whole call ends within `timeout`."""
    deadline = time.monotonic() + timeout
    store = ctx.store
    names = store.list_names()
    result = {name: Row(Name=name) for name in names}
    by_driver: dict[str, list[tuple[Row, Driver]]] = defaultdict(list)
    docker_host = os.environ.get("DOCKER_HOST", "")

    for name in names:
        row = result[name]
        try:
            record = store.load(name)
        except MachineError as exc:
            row.DriverName, row.State, row.Error = "not found", State.ERROR.value, exc.message
            continue
        row.record = record
        row.DriverName = record.DriverName
        try:
            driver = driver_for(ctx, record)
        except MachineError as exc:
            row.DriverName, row.State, row.Error = "not found", State.ERROR.value, exc.message
            continue
        in_progress = _creating(store, name)
        if in_progress:
            row.State = in_progress
            if in_progress == State.ERROR.value:
                row.Error = f"creating it did not finish; remove it with `rm -f {name}`"
            continue
        try:
            row.URL = driver.url()
        except MachineError as exc:
            row.Error = exc.message
        by_driver[record.DriverName].append((row, driver))

    pool = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="ls")
    lock = threading.Lock()
    futures = []
    for group in by_driver.values():
        futures.append(pool.submit(_states, group, lock))
    wait(futures, timeout=max(0.0, deadline - time.monotonic()))

    engine_futures = []
    if query_engines:
        for group in by_driver.values():
            for row, driver in group:
                if (
                    row.State == State.RUNNING.value
                    and row.URL
                    and driver.features.provisions_engine
                ):
                    engine_futures.append(pool.submit(_engine_version, store, row, lock, deadline))
        if engine_futures:
            wait(engine_futures, timeout=max(0.0, deadline - time.monotonic()))
    pool.shutdown(wait=False, cancel_futures=True)

    with lock:
        for group in by_driver.values():
            for row, _ in group:
                if not row.State:
                    row.State, row.URL = State.TIMEOUT.value, ""
                if row.State != State.RUNNING.value:
                    row.URL = ""
                if row.State == State.RUNNING.value and row.URL and docker_host == row.URL:
                    row.Active = "*"
                if row.URL and not row.DockerVersion:
                    row.DockerVersion = "Unknown"
        return [result[n] for n in names]


def _creating(store: Store, name: str) -> str:
    j = journal_mod.Journal.read(store.machine_dir(name))
    if j is None or j.phase == journal_mod.READY:
        return ""
    if j.phase == journal_mod.CREATING and store.is_locked(name):
        return "Creating"
    return State.ERROR.value


def _states(group: list[tuple[Row, Driver]], lock: threading.Lock) -> None:
    drivers = [d for _, d in group]
    try:
        states = type(drivers[0]).states(drivers)
    except Exception as exc:  # one broken backend must not hide the other rows
        with lock:
            for row, _ in group:
                row.State, row.Error = State.ERROR.value, str(exc)
        return
    with lock:
        for (row, _), state in zip(group, states, strict=True):
            row.State = State.RUNNING.value if state is State.NONE and row.URL else state.value


def _engine_version(store: Store, row: Row, lock: threading.Lock, deadline: float) -> None:
    from machine import dockerapi

    try:
        version = dockerapi.version(
            row.URL, tls_files(store, row.Name), timeout=max(0.1, deadline - time.monotonic())
        )
        text, error = f"v{version}", ""
    except Exception as exc:
        text, error = "Unknown", f"Unable to query docker version: {exc}"
    with lock:
        row.DockerVersion, row.Error = text, row.Error or error


HEADERS = ("NAME", "ACTIVE", "DRIVER", "STATE", "URL", "SWARM", "DOCKER", "ERRORS")


def table(items: list[Row]) -> str:
    """docker-machine's tabwriter layout: minwidth 5, padding 3, spaces."""
    lines = [HEADERS] + [
        (r.Name, r.Active, r.DriverName, r.State, r.URL, r.Swarm, r.DockerVersion, r.Error)
        for r in items
    ]
    # Go's minwidth includes the padding: a cell is max(5, widest text + 3) wide.
    widths = [max(5, max(len(line[i]) for line in lines) + 3) for i in range(len(HEADERS) - 1)]
    out = []
    for line in lines:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])]
        # Like Go's tabwriter, tab-terminated cells keep their padding even at the end of a line.
        out.append("".join(cells) + line[-1])
    return "\n".join(out) + "\n"
