"""`machine ls`: every machine's row, queried concurrently under one deadline for the command.

Records are read without locks. Filters that need only the record (driver, name, label, swarm)
are applied before anything is queried. States are asked per driver in one batch
(`Driver.states`), so a cloud driver can make one API call per region. The engine's version is
asked over TLS only for running machines. Whatever has not answered when the deadline passes
shows as Timeout, and loading the records counts against the same deadline.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from machine.driver import Driver, State
from machine.errors import MachineError, Unfinished, UsageError, program
from machine.frozen import frozen
from machine.ops.context import Context, driver_for, tls_files
from machine.store import journal as journal_mod
from machine.store import paths
from machine.store.filestore import Store
from machine.store.record import HostRecord, record_to_json

MAX_WORKERS = 64

DEFAULT_FORMAT = (
    "table {{ .Name }}\t{{ .Active }}\t{{ .DriverName}}\t{{ .State }}\t{{ .URL }}\t"
    "{{ .Swarm }}\t{{ .DockerVersion }}\t{{ .Error}}"
)
HEADERS = {
    "Name": "NAME",
    "Active": "ACTIVE",
    "ActiveHost": "ACTIVE_HOST",
    "ActiveSwarm": "ACTIVE_SWARM",
    "DriverName": "DRIVER",
    "State": "STATE",
    "URL": "URL",
    "SwarmOptions": "SWARM_OPTIONS",
    "Swarm": "SWARM",
    "EngineOptions": "ENGINE_OPTIONS",
    "Error": "ERRORS",
    "DockerVersion": "DOCKER",
    "ResponseTime": "RESPONSE",
}


class Row:
    """One machine's line, filled in by the threads that ask its driver and its engine."""

    __slots__ = (
        "Active",
        "ActiveHost",
        "ActiveSwarm",
        "DockerVersion",
        "DriverName",
        "Error",
        "Name",
        "ResponseTime",
        "State",
        "Swarm",
        "URL",
        "record",
        "started",
    )

    def __init__(  # the template's names, as docker-machine's
        self,
        Name: str,
        DriverName: str = "",
        State: str = "",
        URL: str = "",
        Active: str = "-",
        ActiveHost: bool = False,
        ActiveSwarm: bool = False,
        Swarm: str = "",
        DockerVersion: str = "",
        Error: str = "",
        ResponseTime: str = "",
        record: HostRecord | None = None,
    ) -> None:
        self.Name = Name
        self.DriverName = DriverName
        self.State = State
        self.URL = URL
        self.Active = Active
        self.ActiveHost = ActiveHost
        self.ActiveSwarm = ActiveSwarm
        self.Swarm = Swarm
        self.DockerVersion = DockerVersion
        self.Error = Error
        self.ResponseTime = ResponseTime
        self.record = record
        self.started = time.monotonic()

    def template_data(self, options_too: bool = True) -> dict[str, Any]:
        """The row as templates see it; the record's options (as JSON) only if asked for."""
        options = record_to_json(self.record)["HostOptions"] if self.record and options_too else {}
        return {
            "Name": self.Name,
            "Active": self.Active,
            "ActiveHost": self.ActiveHost,
            "ActiveSwarm": self.ActiveSwarm,
            "DriverName": self.DriverName,
            "State": self.State,
            "URL": self.URL,
            "SwarmOptions": options.get("SwarmOptions"),
            "Swarm": self.Swarm,
            "EngineOptions": options.get("EngineOptions"),
            "Error": self.Error,
            "DockerVersion": self.DockerVersion,
            "ResponseTime": self.ResponseTime,
        }


# --- filters ---------------------------------------------------------------------------------


@frozen
class Filters:
    """docker-machine's --filter: OR within a key, AND across keys."""

    driver: tuple[str, ...] = ()
    state: tuple[str, ...] = ()
    name: tuple[re.Pattern[str], ...] = ()
    label: tuple[str, ...] = ()
    swarm: tuple[str, ...] = ()

    @classmethod
    def parse(cls, specs: list[str]) -> Filters:
        values: dict[str, list[str]] = defaultdict(list)
        for spec in specs:
            key, sep, value = spec.partition("=")
            if not sep:
                raise UsageError("Unsupported filter syntax.")
            if key not in ("driver", "state", "name", "label", "swarm"):
                raise UsageError(f"Unsupported filter key '{key}'")
            values[key].append(value)
        patterns = []
        for expr in values["name"]:
            try:
                patterns.append(re.compile(expr))
            except re.error as exc:
                raise UsageError(f"error parsing regexp: {exc}: `{expr}`") from None
        return cls(
            driver=tuple(values["driver"]),
            state=tuple(values["state"]),
            name=tuple(patterns),
            label=tuple(values["label"]),
            swarm=tuple(values["swarm"]),
        )

    def record_matches(
        self, row: Row, masters: dict[str, str], firsts: dict[str, str] | None = None
    ) -> bool:
        if self.driver and not any(d.lower() == row.DriverName.lower() for d in self.driver):
            return False
        if self.name and not any(p.search(row.Name) for p in self.name):
            return False
        if (self.label or self.swarm) and row.record is None:
            return False  # a record that failed to load has no labels or swarm to match
        if self.label and not _label_matches(row.record, self.label):
            return False
        if not self.swarm:
            return True
        # swarm mode: the swarm is named after the machine it was started on
        return (firsts or {}).get(row.Name, "") in self.swarm or _swarm_matches(
            row.record, self.swarm, masters
        )

    def state_matches(self, row: Row) -> bool:
        return not self.state or any(s.lower() == row.State.lower() for s in self.state)


def _label_matches(record: HostRecord | None, wanted: tuple[str, ...]) -> bool:
    labels: dict[str, str] = {}
    for label in record.HostOptions.EngineOptions.Labels if record else ():
        key, _, value = label.partition("=")
        labels[key] = value
    for spec in wanted:
        key, _, value = spec.partition("=")
        if key in labels and labels[key].lower() == value.lower():
            return True
    return False


def _swarm_matches(
    record: HostRecord | None, names: tuple[str, ...], masters: dict[str, str]
) -> bool:
    if record is None or not record.HostOptions.SwarmOptions.IsSwarm:
        return False
    discovery = record.HostOptions.SwarmOptions.Discovery
    return any(masters.get(name) == discovery for name in names)


# --- rows ------------------------------------------------------------------------------------


def rows(
    ctx: Context,
    timeout: float,
    filters: Filters | None = None,
    query_engines: bool = True,
    query_states: bool = True,
    ask: Callable[[Row], bool] | None = None,
) -> list[Row]:
    """The rows that pass `filters`, natural-sorted by name; ends within `timeout`. Without
    `query_states` no backend is asked (rows have their record's fields only); with `ask`,
    only the backends of the rows it picks (the others keep an empty state)."""
    filters = filters or Filters()
    deadline = time.monotonic() + timeout
    store = ctx.store
    names = store.list_names()
    result = {name: Row(Name=name) for name in names}
    by_driver: dict[str, list[tuple[Row, Driver]]] = defaultdict(list)
    docker_host = os.environ.get("DOCKER_HOST", "")

    for name in names:
        if time.monotonic() > deadline:
            break  # rows not even loaded stay empty and become Timeout rows below
        row = result[name]
        _load(ctx, store, row, by_driver)
    masters = _swarm_masters(result.values()) if filters.swarm else {}
    firsts = _swarm_firsts(store, list(result)) if filters.swarm else {}
    keep = {n for n, r in result.items() if filters.record_matches(r, masters, firsts)}
    asked = {n for n in keep if ask is None or ask(result[n])}
    for group in by_driver.values():
        group[:] = [(row, d) for row, d in group if row.Name in asked]

    tasks = Tasks(MAX_WORKERS)
    lock = tasks.lock

    def version_of(row: Row, driver: Driver) -> None:
        if query_engines and driver.features.provisions_engine:
            with lock:
                running = row.State == State.RUNNING.value and bool(row.URL)
            if running:
                _engine_version(store, row, tasks, deadline)

    def one(row: Row, driver: Driver) -> Callable[[], None]:
        def work() -> None:
            _states([(row, driver)], tasks)
            version_of(row, driver)

        return work

    def batch(group: list[tuple[Row, Driver]]) -> Callable[[], None]:
        def work() -> None:
            _states(group, tasks)  # one call for the group, then each engine on its own
            for row, driver in group:
                tasks.add(functools.partial(version_of, row, driver))

        return work

    for group in by_driver.values() if query_states else ():
        if group and not _batches(type(group[0][1])):
            # no batched query: each machine on its own, its engine right after its state,
            # so a host that hangs holds up nothing but its own row
            for row, driver in group:
                tasks.add(one(row, driver))
        elif group:
            tasks.add(batch(group))
    tasks.wait(deadline)

    with tasks.closing():
        out = []
        for name in names:
            if name not in keep:
                continue
            row = result[name]
            if query_states and name in asked:
                _finish(row, docker_host)
            if filters.state_matches(row):
                out.append(row)
        return out


def _load(
    ctx: Context, store: Store, row: Row, by_driver: dict[str, list[tuple[Row, Driver]]]
) -> None:
    try:
        record = store.load(row.Name)
    except Unfinished as exc:
        row.DriverName = "not found"
        if store.is_locked(row.Name):
            row.State = "Creating"
        else:
            row.State, row.Error = State.ERROR.value, f"{exc.message}; {exc.hint}"
        return
    except MachineError as exc:
        row.DriverName, row.State, row.Error = "not found", State.ERROR.value, exc.message
        return
    row.record = record
    row.DriverName = record.DriverName
    try:
        driver = driver_for(ctx, record)
    except MachineError as exc:
        row.DriverName, row.State, row.Error = "not found", State.ERROR.value, exc.message
        return
    in_progress = _creating(store, row.Name)
    if in_progress:
        row.State = in_progress
        if in_progress == State.ERROR.value:
            prog, name = program(), row.Name
            row.Error = f"Its create did not finish; remove it with `{prog} rm -y {name}`"
            if (store.machine_dir(name) / paths.HOST_SAVED).exists():
                row.Error = (
                    f"Its create did not finish: `{prog} provision {name}` finishes it, "
                    f"`{prog} rm -y {name}` removes it and puts the host back"
                )
        return
    try:
        row.URL = driver.url()
    except MachineError as exc:
        row.Error = exc.message
    if os.path.exists(f"{store.machine_dir_text(row.Name)}/{paths.HOST_SAVED}"):
        row.Error = (
            f"Its last provisioning did not finish: `{program()} provision {row.Name}` "
            f"finishes it, `{program()} rm -y {row.Name}` puts the host back"
        )
    by_driver[record.DriverName].append((row, driver))


def _finish(row: Row, docker_host: str) -> None:
    if not row.State:
        row.State, row.URL = State.TIMEOUT.value, ""
    if row.State != State.RUNNING.value:
        row.URL = ""
    if row.State == State.RUNNING.value and row.URL and docker_host == row.URL:
        row.Active, row.ActiveHost = "*", True
    if row.URL and not row.DockerVersion:
        row.DockerVersion = "Unknown"
    if not row.ResponseTime:
        row.ResponseTime = _go_duration(time.monotonic() - row.started)


def _swarm_firsts(store: Store, names: list[str]) -> dict[str, str]:
    """Machine -> the machine its swarm was started on, for machines in swarm mode."""
    from machine.ops.swarm import membership

    return {name: first for name in names if (first := membership(store, name).get("first"))}


def _swarm_masters(all_rows: Any) -> dict[str, str]:
    return {
        r.Name: r.record.HostOptions.SwarmOptions.Discovery
        for r in all_rows
        if r.record is not None and r.record.HostOptions.SwarmOptions.Master
    }


def _creating(store: Store, name: str) -> str:
    j = journal_mod.Journal.read(store.machine_dir_text(name))
    if j is None or j.phase == journal_mod.READY:
        return ""
    if j.phase == journal_mod.CREATING and store.is_locked(name):
        return "Creating"
    return State.ERROR.value


def _batches(cls: type[Driver]) -> bool:
    """Whether the driver asks for many machines' states in one call (it overrides states)."""
    return cls.states.__func__ is not Driver.states.__func__  # type: ignore[attr-defined]


class Tasks:
    """Work for `ls` on daemon threads, waited for until a deadline and no longer: a host
    whose TCP connect hangs can neither delay the output nor keep the process alive after
    it. Results are written under `lock`, and not at all once the rows are being printed."""

    def __init__(self, workers: int) -> None:
        import queue

        self.lock = threading.Lock()
        self.closed = False
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending = 0
        self._done = threading.Condition(self.lock)
        self._workers = workers
        self._started = 0

    def add(self, work: Any) -> None:
        with self.lock:
            self._pending += 1
            start = self._started < self._workers
            if start:
                self._started += 1
        self._queue.put(work)
        if start:
            threading.Thread(target=self._work, daemon=True, name="ls").start()

    def _work(self) -> None:
        while True:
            work = self._queue.get()
            try:
                work()
            except Exception:  # noqa: S110 - each task records its own errors in its row
                pass
            finally:
                with self.lock:
                    self._pending -= 1
                    self._done.notify_all()

    def wait(self, deadline: float) -> None:
        with self.lock:
            while self._pending and (remaining := deadline - time.monotonic()) > 0:
                self._done.wait(remaining)

    @contextlib.contextmanager
    def closing(self) -> Iterator[None]:
        """Hold the lock for good: late answers are dropped, the rows are final."""
        with self.lock:
            self.closed = True
            yield


def _states(group: list[tuple[Row, Driver]], tasks: Tasks) -> None:
    drivers = [d for _, d in group]
    try:
        states = type(drivers[0]).states(drivers)
    except Exception as exc:  # one broken backend must not hide the other rows
        with tasks.lock:
            if not tasks.closed:
                for row, _ in group:
                    row.State, row.Error = State.ERROR.value, str(exc)
        return
    with tasks.lock:
        if tasks.closed:
            return
        for (row, _), state in zip(group, states, strict=True):
            row.State = State.RUNNING.value if state is State.NONE and row.URL else state.value


def _engine_version(store: Store, row: Row, tasks: Tasks, deadline: float) -> None:
    from machine.docker import dockerapi
    from machine.ops.swarm import membership

    start = time.monotonic()
    swarm = ""
    member = membership(store, row.Name)
    try:
        files = tls_files(store, row.Name)
        timeout = max(0.1, deadline - time.monotonic())
        if member:  # /info: the version and the node's part in its swarm
            version, swarm = _swarm_role(row.URL, files, timeout, member["first"])
        else:
            version = dockerapi.version(row.URL, files, timeout=timeout)
        text, error = f"v{version}", ""
    except Exception as exc:
        text, error = "Unknown", f"Unable to query docker version: {exc}"
    with tasks.lock:
        if tasks.closed:
            return
        row.DockerVersion, row.Error = text, row.Error or error
        row.Swarm = swarm or row.Swarm
        row.ResponseTime = _go_duration(time.monotonic() - start)


def _swarm_role(url: str, files: Any, timeout: float, first: str) -> tuple[str, str]:
    """(engine version, SWARM column: "FIRST (manager, leader)", "FIRST (worker)", ...)."""
    from machine.docker import dockerapi

    info = dockerapi.call(url, "GET", "/info", files, timeout)
    if not isinstance(info, dict):
        raise OSError("engine /info answer is not an object")
    swarm = info.get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active":
        return str(info.get("ServerVersion", "")), ""
    role = "worker"
    if swarm.get("ControlAvailable"):
        node = dockerapi.call(url, "GET", f"/nodes/{swarm.get('NodeID')}", files, timeout)
        leader = isinstance(node, dict) and (node.get("ManagerStatus") or {}).get("Leader")
        role = "manager, leader" if leader else "manager"
    return str(info.get("ServerVersion", "")), f"{first} ({role})" if first else role


def _go_duration(seconds: float) -> str:
    """Go's time.Duration.String() for the usual range (e.g. 12.345ms, 1.5s)."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3f}µs".rstrip("0").rstrip(".").replace(".µ", "µ")
    if seconds < 1:
        return f"{seconds * 1e3:.6f}".rstrip("0").rstrip(".") + "ms"
    return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"


# --- output ----------------------------------------------------------------------------------


# what a row's fields need asked: its backend (the state; URL and Active show only for a
# running machine), and then its engine
_STATE_FIELDS = frozenset(
    {"State", "URL", "Active", "ActiveHost", "ActiveSwarm", "Error", "DockerVersion", "Swarm",
     "ResponseTime"}
)  # fmt: skip
_ENGINE_FIELDS = frozenset({"DockerVersion", "Swarm", "Error", "ResponseTime"})


def queries_for(fmt: str) -> tuple[bool, bool]:
    """(states, engines): whether the format shows anything that needs asking them."""
    from machine.render import template

    used = template.fields_used(template.parse(_format_text(fmt)[0]))
    if used is None:
        return True, True
    return bool(used & _STATE_FIELDS), bool(used & _ENGINE_FIELDS)


def _format_text(fmt: str) -> tuple[str, bool]:
    """(the template, whether it has a header line: `table ...`)."""
    fmt = (fmt or DEFAULT_FORMAT).replace("\\t", "\t").replace("\\n", "\n")
    if fmt.startswith("table"):
        return fmt[len("table") :].lstrip(" "), True
    return fmt, False


def render(items: list[Row], fmt: str = "") -> str:
    """Rows through a Go template; a template starting with `table` gets a header line."""
    from machine.render import tabwriter, template

    fmt, header = _format_text(fmt)
    lines: list[str] = []
    nodes = template.parse(fmt)
    if header:
        lines += template.execute(nodes, dict(HEADERS)).split("\n")
    used = template.fields_used(nodes)
    # the options are the record turned back into JSON: only for a format that reads them
    options_too = used is None or bool(used & {"SwarmOptions", "EngineOptions"})
    for row in items:
        lines += template.execute(nodes, row.template_data(options_too)).split("\n")
    return tabwriter.format_lines(lines)


def table(items: list[Row]) -> str:
    return render(items)
