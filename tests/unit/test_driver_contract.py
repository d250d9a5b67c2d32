"""What the Driver base class does for every driver: calls of a serialize_calls driver never
overlap (across threads and processes), optional operations are known by being implemented."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from machine.driver import BaseConfig, CreateRequest, Driver, Endpoint, Features, State


class Logging(Driver):
    """Appends "enter"/"leave" to a log around each call, with a pause in between."""

    name = "parallel"
    features = Features(provisions_engine=False)

    def log(self, word: str) -> None:
        with open(Path(self.config.StorePath) / "calls.log", "a") as f:
            f.write(word + "\n")

    def state(self) -> State:
        self.log("enter")
        time.sleep(0.05)
        self.create_inside()  # a call from inside a call: the lock is reentrant
        self.log("leave")
        return State.RUNNING

    def create_inside(self) -> None:
        self.remove()

    def create(self, request: CreateRequest) -> None:
        pass

    def endpoint(self) -> Endpoint:
        return Endpoint("127.0.0.1", "", 0, "", "")

    def remove(self) -> None:
        pass

    def start(self) -> None:
        pass


class Serial(Logging):
    """The same methods, inherited: serialized all the same."""

    name = "serial"
    features = Features(provisions_engine=False, serialize_calls=True)


def _calls(cls: type[Logging], store: Path) -> None:
    driver = cls(BaseConfig(MachineName="m", StorePath=str(store)))
    for _ in range(3):
        driver.state()


def _overlapped(store: Path) -> bool:
    words = (store / "calls.log").read_text().split()
    return any(a == b == "enter" for a, b in itertools.pairwise(words))


def test_calls_of_a_serial_driver_never_overlap(tmp_path: Path) -> None:
    # processes first: a child forked while a thread holds the lock would inherit it
    fork = multiprocessing.get_context("fork")
    processes = [fork.Process(target=_calls, args=(Serial, tmp_path)) for _ in range(2)]
    for p in processes:
        p.start()
    threads = [threading.Thread(target=_calls, args=(Serial, tmp_path)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in processes:
        p.join()
        assert p.exitcode == 0
    assert (tmp_path / "calls.log").read_text().count("enter") == 15
    assert not _overlapped(tmp_path)
    assert (tmp_path / ".driver-serial.lock").exists()  # one lock per driver and store


def test_the_same_calls_overlap_without_serialize_calls(tmp_path: Path) -> None:
    """The check above can fail: without the feature the same workload interleaves."""
    threads = [threading.Thread(target=_calls, args=(Logging, tmp_path)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _overlapped(tmp_path)


def test_optional_operations_are_those_implemented() -> None:
    assert Serial.supports("start")
    assert not Serial.supports("stop")
    assert not Serial.supports("restart")


def test_the_lock_follows_the_store_the_core_names(tmp_path: Path) -> None:
    """A record copied from another computer names its old StorePath: the lock must be in the
    store the machine is in now."""
    driver = Serial(BaseConfig(MachineName="m", StorePath="/nonexistent/elsewhere"))
    driver.store_root = tmp_path
    assert driver.call_lock() == tmp_path / ".driver-serial.lock"


def test_a_secret_flag_is_used_but_never_stored() -> None:
    """A password given as a flag reaches the driver and never the record; a record that
    already holds one (docker-machine stored them) keeps it, as it was."""
    from machine.driver import flag, frozen

    @frozen
    class WithPassword(BaseConfig):
        User: str = flag("x-user", default="")
        Password: str = flag("x-password", default="", secret=True)

    class Secretive(Logging):
        name = "secretive"
        Config = WithPassword

    given = WithPassword(User="u", Password="s3cret")
    typed = Secretive(given)
    assert typed.config is given
    assert "Password" not in typed.to_json() and typed.to_json()["User"] == "u"
    loaded = Secretive.from_json({"User": "u", "Password": "from-docker-machine"})
    config = loaded.config
    assert isinstance(config, WithPassword) and config.Password == "from-docker-machine"
    assert loaded.to_json()["Password"] == "from-docker-machine"


def test_a_config_declared_as_a_dataclass_is_refused_with_the_fix() -> None:
    """A stdlib dataclass on top of BaseConfig would lose BaseConfig's fields silently: such a
    driver (written before configs were @frozen) is refused when it is defined."""
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class OldStyle(BaseConfig):
        Size: int = 1

    with pytest.raises(TypeError, match="@frozen"):

        class Old(Logging):
            name = "old"
            Config = OldStyle
