"""The `none` driver: a record of an engine that already exists somewhere (`--url`).

Nothing is made, reached over SSH or provisioned; `env` points at the given URL. Useful for
engines managed by other means and for tests of everything that only reads the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from machine.driver import (
    BaseConfig,
    CreateRequest,
    Endpoint,
    Features,
    PreCreateCheckFailed,
    State,
    flag,
)
from machine.driver import Driver as BaseDriver


@dataclass
class NoneConfig(BaseConfig):
    URL: str = flag(
        "url", default="", env="NONE_URL", help="URL of host when no driver is selected"
    )


class Driver(BaseDriver):
    name = "none"
    Config = NoneConfig
    features = Features(provisions_engine=False)
    help = "A record of an existing engine at --url; nothing is created"

    @property
    def cfg(self) -> NoneConfig:
        assert isinstance(self.config, NoneConfig)
        return self.config

    def pre_create_check(self) -> None:
        if not self.cfg.URL:
            raise PreCreateCheckFailed("The none driver requires the --url option")
        parts = urlsplit(self.cfg.URL)
        if parts.scheme not in ("tcp", "https", "http", "unix") or not (parts.netloc or parts.path):
            raise PreCreateCheckFailed(f"--url must look like tcp://HOST:PORT, not {self.cfg.URL}")

    def create(self, request: CreateRequest) -> None:
        # docker-machine stores the URL's host:port as IPAddress for this driver.
        self.cfg.IPAddress = urlsplit(self.cfg.URL).netloc

    def endpoint(self) -> Endpoint:
        parts = urlsplit(self.cfg.URL)
        return Endpoint(
            # docker-machine's GetIP answers IPAddress, which for this driver is host:port
            ip=self.cfg.IPAddress or parts.netloc,
            ssh_host="",
            ssh_port=0,
            ssh_user="",
            ssh_key_path="",
            engine_port=parts.port or 2376,
        )

    def url(self) -> str:
        return self.cfg.URL

    def state(self) -> State:
        # docker-machine's none driver reports no state; a URL means "Running" in ls.
        return State.RUNNING if self.cfg.URL else State.NONE

    def remove(self) -> None:
        """Nothing was made, so nothing is removed."""
