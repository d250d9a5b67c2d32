"""`machine create`: shared flags plus the flags of the driver named by -d/--driver.

Like docker-machine, the driver is looked up before the real parse (from -d, --driver, then
$MACHINE_DRIVER, then the local default driver) so that its flags can be parsed and shown in help.
"""

from __future__ import annotations

import os
from typing import Any

import click

from machine.cli import driverflags

# Preferred local default drivers, in order, when neither -d nor $MACHINE_DRIVER names one.
LOCAL_DEFAULTS = ("kvm", "virtualbox")


def driver_from_args(args: list[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg in ("-d", "--driver") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--driver="):
            return arg.split("=", 1)[1]
        if arg.startswith("-d") and len(arg) > 2 and not arg.startswith("--"):
            return arg[2:]
    return None


def default_driver(installed: list[str]) -> str | None:
    env = os.environ.get("MACHINE_DRIVER")
    if env:
        return env
    for name in LOCAL_DEFAULTS:
        if name in installed:
            return name
    return None


def _shared_options() -> list[click.Parameter]:
    def multi(name: str, help_text: str, envvar: str | None = None) -> click.Option:
        return click.Option([name], multiple=True, envvar=envvar, help=help_text)

    return [
        # every word, so that extra ones get docker-machine's message rather than click's
        click.Argument(["name"], nargs=-1, metavar="NAME"),
        click.Option(
            ["-d", "--driver"],
            envvar="MACHINE_DRIVER",
            help="Driver to create machine with. [$MACHINE_DRIVER]",
        ),
        click.Option(
            ["--engine-install-url"],
            envvar="MACHINE_DOCKER_INSTALL_URL",
            default="",
            help="Install the engine with this script (e.g. https://get.docker.com) instead of "
            "the distribution's package [$MACHINE_DOCKER_INSTALL_URL]",
        ),
        multi(
            "--engine-opt",
            "Specify arbitrary flags to include with the created engine in the form flag=value",
        ),
        multi(
            "--engine-insecure-registry",
            "Specify insecure registries to allow with the created engine",
        ),
        multi(
            "--engine-registry-mirror",
            "Specify registry mirrors to use [$ENGINE_REGISTRY_MIRROR]",
            envvar="ENGINE_REGISTRY_MIRROR",
        ),
        multi("--engine-label", "Specify labels for the created engine"),
        click.Option(
            ["--engine-storage-driver"],
            default="",
            help="Specify a storage driver to use with the engine",
        ),
        multi("--engine-env", "Specify environment variables to set in the engine"),
        multi("--tls-san", "Support extra SANs for TLS certs"),
        # docker-machine's classic Swarm flags: accepted so old command lines parse, then refused
        # with a clear message (the engine's own swarm mode replaced classic Swarm).
        click.Option(["--swarm"], is_flag=True, hidden=True),
        click.Option(["--swarm-master"], is_flag=True, hidden=True),
        click.Option(["--swarm-experimental"], is_flag=True, hidden=True),
        click.Option(
            ["--swarm-image"], default="swarm:latest", envvar="MACHINE_SWARM_IMAGE", hidden=True
        ),
        click.Option(["--swarm-discovery"], default="", hidden=True),
        click.Option(["--swarm-strategy"], default="spread", hidden=True),
        click.Option(["--swarm-host"], default="tcp://0.0.0.0:3376", hidden=True),
        click.Option(["--swarm-addr"], default="", hidden=True),
        click.Option(["--swarm-opt"], multiple=True, hidden=True),
        click.Option(["--swarm-join-opt"], multiple=True, hidden=True),
        # the engine's swarm mode (machine/ops/swarm.py)
        click.Option(
            ["--swarm-init"],
            is_flag=True,
            help="Make the new machine the first manager of a new swarm",
        ),
        click.Option(
            ["--swarm-join"],
            default="",
            metavar="MANAGER",
            help="Join the new machine to the swarm of the machine MANAGER",
        ),
        click.Option(
            ["--swarm-role"],
            default="worker",
            type=click.Choice(["worker", "manager"]),
            help="The new machine's role with --swarm-join",
        ),
        click.Option(
            ["--swarm-advertise-addr"],
            default="",
            help="The address other nodes reach the new machine on (default: its engine's)",
        ),
        click.Option(
            ["--keep-on-failure"],
            is_flag=True,
            help="Keep what a failed create made, for inspection (default: remove it all)",
        ),
        click.Option(
            ["--wait-timeout"],
            type=float,
            default=180.0,
            envvar="MACHINE_WAIT_TIMEOUT",
            show_default=True,
            help="Seconds to wait for SSH and for the engine to answer [$MACHINE_WAIT_TIMEOUT]",
        ),
    ]


class CreateCommand(click.Command):
    def __init__(self) -> None:
        super().__init__(
            "create",
            params=_shared_options(),
            callback=self._run,
            help="Create a machine",
            context_settings={"help_option_names": ["-h", "--help"]},
        )
        self.driver_class: Any = None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        from machine.registry import default_registry

        registry = default_registry()
        name = driver_from_args(args) or default_driver(registry.usable_names())
        self.params = _shared_options()
        if name:
            try:
                self.driver_class = registry.get(name)
            except Exception:
                self.driver_class = None  # reported after parsing, with the driver list
        if "--help" in args or "-h" in args:
            # help names every installed driver, and warns of any that cannot load
            installed = registry.load_all(warn=True)
            listed = [
                f"{name} (needs: pip install 'machine[{cls.extra or name}]')"
                if cls.missing_sdk()
                else name
                for name, cls in sorted(installed.items())
                if cls.name == name  # an alias names the same driver again
            ]
            self.epilog = (
                f"Drivers: {', '.join(listed)}. "
                "`create -d DRIVER --help` shows that driver's flags."
            )
        if self.driver_class is not None:
            self.params += driverflags.options(self.driver_class.Config)
        else:
            unique = {id(cls): cls for cls in registry.load_all(warn=False).values()}
            for cls in unique.values():  # an alias names the same class again
                self.params += driverflags.options(cls.Config)
        return super().parse_args(ctx, args)

    def _run(self, **params: Any) -> None:
        from machine.cli.changing import run_create

        run_create(click.get_current_context(), self.driver_class, params)
