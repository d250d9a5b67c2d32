"""Turns drivers' config classes into click options, and parsed values back into fields.

The one place where driver flag metadata meets the command line; drivers never see click.
"""

from __future__ import annotations

from typing import Any

import click

from machine.driver import BaseConfig, FlagSpec, create_flags
from machine.frozen import Field


def _kind(f: Field) -> str:
    text = str(f.type)
    if "tuple" in text:
        return "list"
    if text in ("bool", "<class 'bool'>"):
        return "bool"
    if text in ("int", "<class 'int'>"):
        return "int"
    return "str"


def options(config_class: type[BaseConfig]) -> list[click.Option]:
    out: list[click.Option] = []
    for f, spec in create_flags(config_class):
        out.append(_option(f, spec))
    return out


def _option(f: Field, spec: FlagSpec) -> click.Option:
    kind = _kind(f)
    envvar = spec.env or None
    help_text = spec.help + (f" [${spec.env}]" if spec.env else "")
    name = f"--{spec.name}"
    dest = _dest(spec)
    if kind == "bool":
        return click.Option(
            [name, dest], is_flag=True, default=False, envvar=envvar, help=help_text
        )
    if kind == "list":
        return click.Option(
            [name, dest], multiple=True, default=f.default, envvar=envvar, help=help_text
        )
    if kind == "int":
        return click.Option(
            [name, dest],
            type=int,
            default=f.default,
            envvar=envvar,
            help=help_text,
            show_default=True,
        )
    return click.Option(
        [name, dest],
        type=str,
        default=f.default,
        envvar=envvar,
        help=help_text,
        show_default=bool(f.default) and not spec.secret,
    )


def _dest(spec: FlagSpec) -> str:
    return "drv_" + spec.name.replace("-", "_")


def values(config_class: type[BaseConfig], params: dict[str, Any]) -> dict[str, Any]:
    """Config field name -> value, for the driver's flags present in `params`."""
    out: dict[str, Any] = {}
    for f, spec in create_flags(config_class):
        key = _dest(spec)
        if key in params:
            value = params[key]
            if spec.negates:
                value = not value
            out[f.name] = tuple(value) if isinstance(value, list | tuple) else value
    return out
