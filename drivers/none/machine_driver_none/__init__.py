"""The `none` driver: a record of an engine that already exists somewhere (`--url`).

Nothing is made, reached over SSH or provisioned; `env` points at the given URL. Useful for
engines managed by other means and for tests of everything that only reads the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from machine.driver import (
    DEFAULT_ENGINE_PORT,
    BaseConfig,
    CreateRequest,
    Endpoint,
    Features,
    Learned,
    PreCreateCheckFailed,
    State,
    flag,
    frozen,
)
from machine.driver import Driver as BaseDriver


@frozen
class NoneConfig(BaseConfig):
    URL: str = flag(
        "url", default="", env="NONE_URL", help="URL of host when no driver is selected"
    )


class Driver(BaseDriver[NoneConfig]):
    name = "none"
    Config = NoneConfig
    features = Features(provisions_engine=False, owns_host=False)
    help = "A record of an existing engine at --url; nothing is created"

    def pre_create_check(self) -> None:
        # Any string is taken, as docker-machine took it (scripts pass `--url none`): the
        # URL is only ever printed, never dialled or run.
        if not self.config.URL:
            raise PreCreateCheckFailed("The none driver requires the --url option")

    def create(self, request: CreateRequest) -> Learned:
        # docker-machine stores the URL's host:port as IPAddress for this driver.
        return {"IPAddress": _netloc(self.config.URL)}

    def endpoint(self) -> Endpoint:
        return Endpoint(
            # docker-machine's GetIP answers IPAddress, which for this driver is host:port
            ip=self.config.IPAddress or _netloc(self.config.URL),
            ssh_host="",
            ssh_port=0,
            ssh_user="",
            ssh_key_path="",
            engine_port=_port(self.config.URL),
        )

    def url(self) -> str:
        return self.config.URL

    def state(self) -> State:
        # docker-machine's none driver reports no state; a URL means "Running" in ls.
        return State.RUNNING if self.config.URL else State.NONE

    @classmethod
    def states(cls, drivers: Sequence[BaseDriver]) -> list[State]:
        """From the records alone: one call for all of them (ls starts no thread per row)."""
        return [d.state() for d in drivers]

    def remove(self) -> None:
        """Nothing was made, so nothing is removed."""


def _netloc(url: str) -> str:
    try:
        return urlsplit(url).netloc
    except ValueError:  # e.g. tcp://[::1:2376 (an unclosed bracket)
        return ""


def _port(url: str) -> int:
    try:
        return urlsplit(url).port or DEFAULT_ENGINE_PORT
    except ValueError:  # no port, or not a number from 0 to 65535
        return DEFAULT_ENGINE_PORT
