"""Public test doubles, for this project's tests and for third-party driver authors.

- `ScriptedRemote`: a provisioning `Remote` that answers commands from a script and fails
  loudly on any command it was not told to expect; it records commands and file writes.
- `FakeDriver`: an in-memory driver with a real lifecycle, for tests of ops and the CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from machine.driver import BaseConfig, CreateRequest, Endpoint, Features, Learned, State, frozen
from machine.driver import Driver as BaseDriver
from machine.remote.ssh import Result


class UnexpectedCommand(AssertionError):
    pass


@dataclass
class Rule:
    pattern: re.Pattern[str]
    result: Result
    times: int | None = None  # None: any number of times


@dataclass
class ScriptedRemote:
    rules: list[Rule] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)

    def on(
        self,
        pattern: str,
        stdout: str = "",
        code: int = 0,
        stderr: str = "",
        times: int | None = None,
    ) -> ScriptedRemote:
        """Answer commands matching the regex `pattern` (searched); first matching rule wins."""
        self.rules.append(Rule(re.compile(pattern, re.S), Result(code, stdout, stderr), times))
        return self

    def run(self, command: str, stdin: bytes = b"", timeout: float = 0) -> Result:
        self.commands.append(command)
        for rule in self.rules:
            if rule.times == 0:
                continue
            if rule.pattern.search(command):
                if rule.times is not None:
                    rule.times -= 1
                return rule.result
        raise UnexpectedCommand(f"unexpected remote command: {command!r}")

    def put(self, path: str, data: bytes, mode: int) -> None:
        self.commands.append(f"put {path} {mode:04o}")
        self.files[path] = (data, mode)


@frozen
class FakeConfig(BaseConfig):
    Fail: str = ""  # a step name to fail at: "pre-create", "create", "remove"
    Power: str = ""  # the fake "machine": "on" or "off"


class FakeDriver(BaseDriver[FakeConfig]):
    """Keeps its "machine" in the config itself; state follows start/stop/kill."""

    name = "fake"
    Config = FakeConfig
    features = Features(provisions_engine=False)
    removed: list[str] = []  # noqa: RUF012 - shared on purpose: tests read what was removed

    def pre_create_check(self) -> Learned | None:
        if self.config.Fail == "pre-create":
            from machine.driver import PreCreateCheckFailed

            raise PreCreateCheckFailed("fake pre-create failure")
        return None

    def create(self, request: CreateRequest) -> Learned:
        request.record("fake-vm", self.config.MachineName)
        if self.config.Fail == "create":
            from machine.driver import DriverError

            raise DriverError("fake create failure")
        return {"IPAddress": "192.0.2.10", "Power": "on"}

    def endpoint(self) -> Endpoint:
        return Endpoint(self.config.IPAddress, self.config.IPAddress, 22, "root", "")

    def state(self) -> State:
        return State.RUNNING if self.config.Power == "on" else State.STOPPED

    def start(self) -> Learned:
        return {"Power": "on"}

    def stop(self) -> Learned:
        return {"Power": "off"}

    def kill(self) -> Learned:
        return {"Power": "off"}

    def restart(self) -> Learned:
        return {"Power": "on"}

    def remove(self) -> None:
        if self.config.Fail == "remove":
            from machine.driver import DriverError

            raise DriverError("fake remove failure")
        FakeDriver.removed.append(self.config.MachineName)
