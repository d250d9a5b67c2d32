"""`ls` rows: batched states per driver, the command-wide deadline, records that fail to load."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from machine.driver import Driver, State
from machine.ops import context as opcontext
from machine.ops import listing
from machine.progress import Progress
from machine.registry import Registry
from machine.store.filestore import Store
from machine.store.record import HostRecord
from machine.testing import FakeDriver

release = threading.Event()


class SlowDriver(FakeDriver):
    """Answers state only when the test lets it (a backend that hangs)."""

    name = "slow"

    def state(self) -> State:
        release.wait(30)
        return State.RUNNING


class CountingDriver(FakeDriver):
    name = "counting"
    batches: list[int] = []  # noqa: RUF012 - read by the test

    @classmethod
    def states(cls, drivers: Sequence[Driver]) -> list[State]:
        cls.batches.append(len(drivers))
        return [State.STOPPED for _ in drivers]


def context(root: Path) -> opcontext.Context:
    registry = Registry(_loaded={"slow": SlowDriver, "counting": CountingDriver})
    return opcontext.Context(Store(root), registry, Progress(quiet=True))


def save(ctx: opcontext.Context, name: str, driver: str) -> None:
    ctx.store.save(HostRecord(Name=name, DriverName=driver, Driver={"MachineName": name}))


def test_deadline_turns_silent_machines_into_timeout_rows(store_root: Path) -> None:
    ctx = context(store_root)
    save(ctx, "hangs", "slow")
    save(ctx, "quick", "counting")
    try:
        rows = {r.Name: r for r in listing.rows(ctx, timeout=3)}
    finally:
        release.set()
    assert rows["hangs"].State == "Timeout"
    assert rows["hangs"].URL == ""
    assert rows["quick"].State == "Stopped"


def test_states_are_asked_in_one_batch_per_driver(store_root: Path) -> None:
    ctx = context(store_root)
    CountingDriver.batches.clear()
    for i in range(5):
        save(ctx, f"m{i}", "counting")
    rows = listing.rows(ctx, timeout=5)
    assert [r.State for r in rows] == ["Stopped"] * 5
    assert CountingDriver.batches == [5]


def test_unknown_driver_row(store_root: Path) -> None:
    ctx = context(store_root)
    save(ctx, "orphan", "vanished")
    (row,) = listing.rows(ctx, timeout=5)
    assert (row.DriverName, row.State) == ("not found", "Error")
    assert 'Driver "vanished" not found' in row.Error


def test_table_layout_is_tabwriters() -> None:
    rows = [
        listing.Row(
            Name="a", DriverName="none", State="Running", URL="tcp://h:1", DockerVersion="Unknown"
        )
    ]
    assert listing.table(rows) == (
        "NAME   ACTIVE   DRIVER   STATE     URL         SWARM   DOCKER    ERRORS\n"
        "a      -        none     Running   tcp://h:1           Unknown   \n"
    )


def test_lines_without_cells_pass_through_as_with_cells() -> None:
    from machine.render import tabwriter

    plain = ["m1 none", "", "a longer line", "m2  generic "]
    assert tabwriter.format_lines(plain) == "m1 none\n\na longer line\nm2  generic \n"
    assert tabwriter.format_lines([]) == ""
    # one line with a cell switches to alignment; the others come out as before
    assert tabwriter.format_lines(["x\ty", *plain]) == "x    y\n" + "\n".join(plain) + "\n"


def test_create_in_progress_and_half_created_machines(store_root: Path) -> None:
    from machine.store.journal import Journal

    ctx = context(store_root)
    save(ctx, "busy", "counting")
    Journal.start(ctx.store.machine_dir("busy"))  # phase "creating"
    with ctx.store.locked("busy"):
        (row,) = listing.rows(ctx, timeout=5)
        assert row.State == "Creating"
    # the creating process died (lock released, journal never finished): an Error row
    (row,) = listing.rows(ctx, timeout=5)
    assert row.State == "Error"


def test_filters_parse_errors() -> None:
    import pytest

    from machine.errors import UsageError

    with pytest.raises(UsageError) as info:
        listing.Filters.parse(["state"])
    assert info.value.message == "Unsupported filter syntax."
    with pytest.raises(UsageError) as info:
        listing.Filters.parse(["color=red"])
    assert info.value.message == "Unsupported filter key 'color'"
    with pytest.raises(UsageError):
        listing.Filters.parse(["name=("])


def test_filters_or_within_and_across_keys(store_root: Path) -> None:
    from machine.store.record import EngineOptions, HostOptions

    ctx = context(store_root)
    for name, driver, labels in (
        ("web1", "counting", ("env=prod",)),
        ("web2", "counting", ("env=dev",)),
        ("db1", "counting", ("env=prod",)),
    ):
        ctx.store.save(
            HostRecord(
                Name=name,
                DriverName=driver,
                Driver={"MachineName": name},
                HostOptions=HostOptions(EngineOptions=EngineOptions(Labels=labels)),
            )
        )

    def names(*specs: str) -> list[str]:
        return [r.Name for r in listing.rows(ctx, 5, listing.Filters.parse(list(specs)))]

    assert names("driver=COUNTING") == ["db1", "web1", "web2"]
    assert names("name=^web") == ["web1", "web2"]
    assert names("name=^web", "label=env=prod") == ["web1"]
    assert names("label=env=prod", "label=env=dev") == ["db1", "web1", "web2"]
    assert names("state=stopped", "name=1$") == ["db1", "web1"]
    assert names("state=Running") == []
    assert names("driver=none", "driver=counting", "name=^db", "state=STOPPED") == ["db1"]


def test_format_and_table_header(store_root: Path) -> None:
    rows = [listing.Row(Name="a", DriverName="none", State="Running", URL="tcp://h:1")]
    assert listing.render(rows, "{{.Name}} {{.DriverName}}") == "a none\n"
    assert listing.render(rows, "table {{.Name}}\\t{{.State}}") == (
        "NAME   STATE\na      Running\n"
    )


def test_a_format_that_reads_the_options_gets_them(store_root: Path) -> None:
    """Rows turn the record back into JSON only for formats that read the options."""
    from machine.store.record import EngineOptions, HostOptions, HostRecord

    record = HostRecord(
        Name="a",
        DriverName="none",
        HostOptions=HostOptions(EngineOptions=EngineOptions(Labels=("env=prod",))),
    )
    rows = [listing.Row(Name="a", DriverName="none", record=record)]
    assert listing.render(rows, "{{.EngineOptions.Labels}}") == "[env=prod]\n"
    assert listing.render(rows, "{{json .EngineOptions.Labels}}") == '["env=prod"]\n'
    assert '"Labels":["env=prod"]' in listing.render(rows, "{{json .}}")
    assert listing.render(rows, "{{.Name}}") == "a\n"


def test_only_what_the_format_shows_is_asked(store_root: Path) -> None:
    assert listing.queries_for("{{.Name}} {{.DriverName}}") == (False, False)
    assert listing.queries_for("table {{.Name}}\\t{{.URL}}") == (True, False)  # URL: if running
    assert listing.queries_for("") == (True, True)  # the default table
    assert listing.queries_for("{{json .}}") == (True, True)
    ctx = context(store_root)
    CountingDriver.batches.clear()
    for i in range(3):
        save(ctx, f"m{i}", "counting")
    rows = listing.rows(ctx, timeout=5, query_states=False)
    assert [r.Name for r in rows] == ["m0", "m1", "m2"]
    assert CountingDriver.batches == []  # no backend was asked


def test_only_the_rows_asked_for_get_a_state(store_root: Path) -> None:
    """`active` asks only the machines $DOCKER_HOST names: the others keep no state (not a
    Timeout), so a host that hangs elsewhere does not make it fail."""
    ctx = context(store_root)
    save(ctx, "hangs", "slow")
    save(ctx, "quick", "counting")
    rows = {r.Name: r for r in listing.rows(ctx, timeout=3, ask=lambda row: row.Name == "quick")}
    assert rows["quick"].State == "Stopped"
    assert rows["hangs"].State == ""
