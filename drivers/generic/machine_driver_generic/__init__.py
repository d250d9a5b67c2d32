"""The `generic` driver: an existing Linux server reached over SSH (docker-machine's flags).

Create copies the given SSH key into the machine folder (0600); the core then pins the host key,
installs or configures the engine and issues certificates. Nothing is removed from the server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from machine.driver import (
    DEFAULT_ENGINE_PORT,
    PRIVATE_FILE,
    BaseConfig,
    CreateRequest,
    Endpoint,
    Features,
    Learned,
    PreCreateCheckFailed,
    State,
    flag,
    frozen,
    write_atomic,
)
from machine.driver import Driver as BaseDriver

# How long `state` waits for the SSH port; `ls` asks many hosts at once under its own deadline.
STATE_DIAL_TIMEOUT = 5.0


@frozen
class GenericConfig(BaseConfig):
    IPAddress: str = flag(
        "generic-ip-address", default="", env="GENERIC_IP_ADDRESS", help="IP Address of machine"
    )
    SSHUser: str = flag("generic-ssh-user", default="root", env="GENERIC_SSH_USER", help="SSH user")
    SSHPort: int = flag("generic-ssh-port", default=22, env="GENERIC_SSH_PORT", help="SSH port")
    EnginePort: int = flag(
        "generic-engine-port",
        default=DEFAULT_ENGINE_PORT,
        env="GENERIC_ENGINE_PORT",
        help="Docker engine port",
    )
    SSHKey: str = flag(
        "generic-ssh-key",
        default="",
        env="GENERIC_SSH_KEY",
        help="SSH private key path (if not provided, default SSH key will be used)",
    )


class Driver(BaseDriver[GenericConfig]):
    name = "generic"
    Config = GenericConfig
    # restart reboots the server over SSH, as docker-machine's `sudo shutdown -r now` did
    features = Features(provisions_engine=True, reboots_over_ssh=True, owns_host=False)
    help = "An existing server reached over SSH"

    def pre_create_check(self) -> None:
        cfg = self.config
        if not cfg.IPAddress:
            raise PreCreateCheckFailed("generic driver requires the --generic-ip-address option")
        if cfg.SSHKey:
            key = Path(os.path.expanduser(cfg.SSHKey))
            try:
                readable = key.is_file() and os.access(key, os.R_OK)
            except (OSError, ValueError):  # a name too long, a NUL
                readable = False
            if not readable:
                raise PreCreateCheckFailed(f"SSH key does not exist: {str(key)!r}")
        if not 0 < cfg.SSHPort < 65536:
            raise PreCreateCheckFailed(f"--generic-ssh-port {cfg.SSHPort} is not a port")
        if not 0 < cfg.EnginePort < 65536:
            raise PreCreateCheckFailed(f"--generic-engine-port {cfg.EnginePort} is not a port")
        if why := self.ssh_problem(cfg):  # the address and user, as every record is checked
            flag = "--generic-ip-address" if "IPAddress" in why else "--generic-ssh-user"
            raise PreCreateCheckFailed(f"{flag}: {why.split(': ', 1)[1]}")

    def create(self, request: CreateRequest) -> Learned:
        if not self.config.SSHKey:
            # Rely on the user's agent and ~/.ssh keys, as docker-machine does.
            return {"SSHKeyPath": ""}
        src = Path(os.path.expanduser(self.config.SSHKey))
        dst = request.ssh_key_path
        # explicit modes: the files are never readable by others, whatever the umask
        write_atomic(dst, src.read_bytes(), PRIVATE_FILE)
        pub = src.with_name(src.name + ".pub")
        if pub.is_file():
            write_atomic(dst.with_name(dst.name + ".pub"), pub.read_bytes(), PRIVATE_FILE)
        return {"SSHKeyPath": str(dst)}

    def endpoint(self) -> Endpoint:
        return Endpoint(
            ip=self.config.IPAddress,
            ssh_host=self.config.IPAddress,
            ssh_port=self.config.SSHPort or 22,
            ssh_user=self.config.SSHUser or "root",
            ssh_key_path=self.config.SSHKeyPath,
            engine_port=self.config.EnginePort or DEFAULT_ENGINE_PORT,
        )

    def state(self) -> State:
        # The server is "Running" when its SSH port accepts a connection (docker-machine's rule).
        import socket

        try:
            host = self.config.IPAddress
            # an ASCII host as bytes: a str one makes socket load the idna codec (~1 ms)
            address: Any = (host.encode() if host.isascii() else host, self.config.SSHPort or 22)
            with socket.create_connection(address, timeout=STATE_DIAL_TIMEOUT):
                return State.RUNNING
        except OSError:
            return State.STOPPED

    def remove(self) -> None:
        """The server is the user's: nothing on it is removed."""
