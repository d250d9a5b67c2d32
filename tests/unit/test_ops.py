"""ops.create's journal and rollback, with the in-memory FakeDriver."""

from __future__ import annotations

from pathlib import Path

import pytest

from machine import errors
from machine.ops import context as opcontext
from machine.ops import create as opcreate
from machine.ops import lifecycle
from machine.progress import Progress
from machine.registry import Registry
from machine.store.filestore import Store
from machine.store.journal import Journal
from machine.testing import FakeDriver


def context(root: Path) -> opcontext.Context:
    return opcontext.Context(
        Store(root), Registry(_loaded={"fake": FakeDriver}), Progress(quiet=True)
    )


def options(name: str, fail: str = "", keep: bool = False) -> opcreate.CreateOptions:
    return opcreate.CreateOptions(
        name=name, driver="fake", driver_values={"Fail": fail}, keep_on_failure=keep
    )


def test_create_saves_driver_state_and_leaves_no_journal(store_root: Path) -> None:
    record = opcreate.create(context(store_root), options("a"))
    assert record.Driver["IPAddress"] == "192.0.2.10"
    assert record.Driver["Power"] == "on"  # what create learned is saved
    # a finished create's journal is gone: no journal is "ready" (ls reads one file less)
    assert Journal.read(store_root / "machines/a") is None
    assert not (store_root / "machines/a/journal.json").exists()
    assert (store_root / "certs/ca.pem").exists()


def test_a_kept_failed_create_keeps_the_journal_of_what_it_made(store_root: Path) -> None:
    with pytest.raises(errors.CreateFailed):
        opcreate.create(context(store_root), options("k", fail="create", keep=True))
    journal = Journal.read(store_root / "machines/k")
    assert journal is not None and journal.phase == "failed"


def test_failed_create_rolls_back_everything(store_root: Path) -> None:
    FakeDriver.removed.clear()
    with pytest.raises(errors.CreateFailed) as info:
        opcreate.create(context(store_root), options("b", fail="create"))
    assert 'Error in step "Creating machine": fake create failure' in info.value.message
    assert "Removed fake-vm b" in info.value.hint
    assert FakeDriver.removed == ["b"]
    assert not (store_root / "machines/b").exists()
    opcreate.create(context(store_root), options("b"))  # the name is free again


def test_keep_on_failure_keeps_the_record(store_root: Path) -> None:
    with pytest.raises(errors.CreateFailed) as info:
        opcreate.create(context(store_root), options("c", fail="create", keep=True))
    assert "--keep-on-failure" in info.value.hint
    journal = Journal.read(store_root / "machines/c")
    assert journal is not None and journal.phase == "failed"


def test_pre_create_failure_saves_nothing(store_root: Path) -> None:
    with pytest.raises(errors.PreCreateCheckFailed) as info:
        opcreate.create(context(store_root), options("d", fail="pre-create"))
    assert info.value.exit_code == 3
    assert not (store_root / "machines/d").exists()


def test_rm_force_clears_a_record_whose_remove_fails(store_root: Path) -> None:
    ctx = context(store_root)
    opcreate.create(ctx, options("e"))
    record = ctx.store.load("e")
    ctx.store.save(record.with_driver({**record.Driver, "Fail": "remove"}))
    with pytest.raises(errors.DriverError):
        lifecycle.remove(ctx, "e")
    assert ctx.store.exists("e")
    lifecycle.remove(ctx, "e", force=True)
    assert not ctx.store.exists("e")


def test_rm_of_missing_machine(store_root: Path) -> None:
    with pytest.raises(errors.HostNotFound):
        lifecycle.remove(context(store_root), "ghost")
