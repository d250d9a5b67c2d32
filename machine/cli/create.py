"""`machine create` on click: shared flags plus the flags of the driver named by -d/--driver
(createflags.py holds them all; creating.py does the create).

Like docker-machine, the driver is looked up before the real parse (from -d, --driver, then
$MACHINE_DRIVER, then the local default driver) so that its flags can be parsed and shown in help.
"""

from __future__ import annotations

from typing import Any

import click

from machine.cli import driverflags
from machine.cli.createflags import default_driver, driver_from_args


def _shared_options() -> list[click.Parameter]:
    from machine.cli.createflags import SHARED

    # every word, so that extra ones get docker-machine's message rather than click's
    name: list[click.Parameter] = [click.Argument(["name"], nargs=-1, metavar="NAME")]
    return name + [driverflags.click_option(flag) for flag in SHARED]


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
        from machine.cli import creating
        from machine.cli.common import globals_of

        ctx = click.get_current_context()
        if not params.get("name"):
            print(ctx.get_help())  # docker-machine shows create's help, then the error
        creating.run(globals_of(ctx), params)
