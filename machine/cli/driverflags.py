"""Turns create's flags (createflags.py: the shared ones and each driver's) into click options.

The one place where driver flag metadata meets click; drivers never see click.
"""

from __future__ import annotations

from typing import Any

import click

from machine.cli.createflags import Flag, driver_flags
from machine.driver import BaseConfig


def options(config_class: type[BaseConfig]) -> list[click.Option]:
    return [click_option(flag) for flag in driver_flags(config_class)]


def click_option(flag: Flag) -> click.Option:
    """The click option that reads `flag` as createflags.parse does."""
    decls = [*flag.names, flag.dest]
    common: dict[str, Any] = {
        "envvar": flag.env or None,
        "help": flag.help or None,
        "hidden": flag.hidden,
    }
    if flag.metavar:
        common["metavar"] = flag.metavar
    if flag.kind == "bool":
        return click.Option(decls, is_flag=True, default=False, **common)
    if flag.kind == "list":
        return click.Option(decls, multiple=True, default=flag.default, **common)
    kinds: dict[str, Any] = {
        "str": str,
        "int": int,
        "float": float,
        "choice": click.Choice(list(flag.choices)),
    }
    return click.Option(
        decls,
        type=kinds[flag.kind],
        default=flag.default,
        show_default=flag.show_default,
        **common,
    )
