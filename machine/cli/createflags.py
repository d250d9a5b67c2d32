"""create's flags as data, and a parser for the usual create command lines.

One table of the shared flags (SHARED) and one per driver, made from its config's FlagSpecs
(driver_flags): create.py turns them into click options (help, and every unusual command
line), and `parse` reads the usual ones without the command-line framework (fast.py). `parse`
accepts only what it is sure click reads the same way, into the same values click would give
the command: anything else is None, and click decides.

Only the standard library's cheapest modules are imported here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from machine.driver import BaseConfig

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


KINDS = ("str", "list", "bool", "int", "float", "choice")


class Flag:
    """One create flag: its names, where its value goes (`dest`, the command's parameter),
    and how it reads one."""

    __slots__ = (
        "choices",
        "default",
        "dest",
        "env",
        "help",
        "hidden",
        "kind",
        "metavar",
        "names",
        "show_default",
    )

    def __init__(
        self,
        names: tuple[str, ...],
        dest: str,
        kind: str = "str",
        default: Any = "",
        env: str = "",
        help: str = "",
        hidden: bool = False,
        choices: tuple[str, ...] = (),
        metavar: str = "",
        show_default: bool = False,
    ) -> None:
        assert kind in KINDS, kind
        self.names = names
        self.dest = dest
        self.kind = kind
        self.default = default
        self.env = env
        self.help = help
        self.hidden = hidden
        self.choices = choices
        self.metavar = metavar
        self.show_default = show_default


def _multi(name: str, help_text: str, env: str = "") -> Flag:
    return Flag((name,), _dest(name), "list", (), env, help_text)


def _dest(name: str) -> str:
    return name.lstrip("-").replace("-", "_")


# In the order help lists them. Classic Swarm's flags are accepted (hidden) so that old command
# lines parse, then refused with a clear message: the engine's own swarm mode replaced it.
SHARED: tuple[Flag, ...] = (
    Flag(
        ("-d", "--driver"),
        "driver",
        default=None,
        env="MACHINE_DRIVER",
        help="Driver to create machine with. [$MACHINE_DRIVER]",
    ),
    Flag(
        ("--engine-install-url",),
        "engine_install_url",
        env="MACHINE_DOCKER_INSTALL_URL",
        help="Install the engine with this script (e.g. https://get.docker.com) instead of "
        "the distribution's package [$MACHINE_DOCKER_INSTALL_URL]",
    ),
    _multi(
        "--engine-opt",
        "Specify arbitrary flags to include with the created engine in the form flag=value",
    ),
    _multi(
        "--engine-insecure-registry", "Specify insecure registries to allow with the created engine"
    ),
    _multi(
        "--engine-registry-mirror",
        "Specify registry mirrors to use [$ENGINE_REGISTRY_MIRROR]",
        env="ENGINE_REGISTRY_MIRROR",
    ),
    _multi("--engine-label", "Specify labels for the created engine"),
    Flag(
        ("--engine-storage-driver",),
        "engine_storage_driver",
        help="Specify a storage driver to use with the engine",
    ),
    _multi("--engine-env", "Specify environment variables to set in the engine"),
    _multi("--tls-san", "Support extra SANs for TLS certs"),
    Flag(("--swarm",), "swarm", "bool", False, hidden=True),
    Flag(("--swarm-master",), "swarm_master", "bool", False, hidden=True),
    Flag(("--swarm-experimental",), "swarm_experimental", "bool", False, hidden=True),
    Flag(
        ("--swarm-image",),
        "swarm_image",
        default="swarm:latest",
        env="MACHINE_SWARM_IMAGE",
        hidden=True,
    ),
    Flag(("--swarm-discovery",), "swarm_discovery", hidden=True),
    Flag(("--swarm-strategy",), "swarm_strategy", default="spread", hidden=True),
    Flag(("--swarm-host",), "swarm_host", default="tcp://0.0.0.0:3376", hidden=True),
    Flag(("--swarm-addr",), "swarm_addr", hidden=True),
    Flag(("--swarm-opt",), "swarm_opt", "list", (), hidden=True),
    Flag(("--swarm-join-opt",), "swarm_join_opt", "list", (), hidden=True),
    # the engine's swarm mode (machine/ops/swarm.py)
    Flag(
        ("--swarm-init",),
        "swarm_init",
        "bool",
        False,
        help="Make the new machine the first manager of a new swarm",
    ),
    Flag(
        ("--swarm-join",),
        "swarm_join",
        metavar="MANAGER",
        help="Join the new machine to the swarm of the machine MANAGER",
    ),
    Flag(
        ("--swarm-role",),
        "swarm_role",
        "choice",
        "worker",
        choices=("worker", "manager"),
        help="The new machine's role with --swarm-join",
    ),
    Flag(
        ("--swarm-advertise-addr",),
        "swarm_advertise_addr",
        help="The address other nodes reach the new machine on (default: its engine's)",
    ),
    Flag(
        ("--keep-on-failure",),
        "keep_on_failure",
        "bool",
        False,
        help="Keep what a failed create made, for inspection (default: remove it all)",
    ),
    Flag(
        ("--wait-timeout",),
        "wait_timeout",
        "float",
        180.0,
        env="MACHINE_WAIT_TIMEOUT",
        help="Seconds to wait for SSH and for the engine to answer [$MACHINE_WAIT_TIMEOUT]",
        show_default=True,
    ),
)


def driver_flags(config_class: type[BaseConfig]) -> list[Flag]:
    """A driver's create flags, from its config's FlagSpecs; each value goes to `drv_NAME`."""
    from machine.driver import create_flags

    out: list[Flag] = []
    for f, spec in create_flags(config_class):
        kind = _kind(str(f.type))
        out.append(
            Flag(
                (f"--{spec.name}",),
                driver_dest(spec.name),
                kind,
                False if kind == "bool" else f.default,
                spec.env,
                spec.help + (f" [${spec.env}]" if spec.env else ""),
                show_default=kind == "int"
                or (kind == "str" and bool(f.default) and not spec.secret),
            )
        )
    return out


def driver_dest(flag_name: str) -> str:
    return "drv_" + flag_name.replace("-", "_")


def values(config_class: type[BaseConfig], params: dict[str, Any]) -> dict[str, Any]:
    """Config field name -> value, for the driver's flags present in `params`."""
    out: dict[str, Any] = {}
    from machine.driver import create_flags

    for f, spec in create_flags(config_class):
        key = driver_dest(spec.name)
        if key in params:
            value = params[key]
            if spec.negates:
                value = not value
            out[f.name] = tuple(value) if isinstance(value, list | tuple) else value
    return out


def _kind(type_text: str) -> str:
    if "tuple" in type_text:
        return "list"
    if type_text in ("bool", "<class 'bool'>"):
        return "bool"
    if type_text in ("int", "<class 'int'>"):
        return "int"
    return "str"


def parse(args: Sequence[str], flags: Sequence[Flag]) -> dict[str, Any] | None:
    """The command's parameters as click gives them (`name`: the words that are no flag), or
    None when the command line holds anything this parser is not sure of (--help, a flag it
    does not know, -xVALUE, `--`, a value that looks like a flag, a value click would refuse)."""
    by_name = {name: flag for flag in flags for name in flag.names}
    given: dict[str, Any] = {}
    words: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if not word.startswith("-") or word == "-":
            words.append(word)
            continue
        name, eq, value = word.partition("=")
        flag = by_name.get(name)
        if flag is None or (eq and not name.startswith("--")):
            return None
        if flag.kind == "bool":
            if eq:
                return None
            given[flag.dest] = True
            continue
        if not eq:
            if i >= len(args):
                return None
            value = args[i]
            i += 1
            if value.startswith("-") and value != "-":
                return None  # click may take it for a flag, or for the value
        if flag.kind == "list":
            given.setdefault(flag.dest, []).append(value)
            continue
        converted = _convert(flag, value)
        if converted is None:
            return None
        given[flag.dest] = converted
    params: dict[str, Any] = {"name": tuple(words)}
    for flag in flags:
        if flag.dest in given:
            value = given[flag.dest]
            params[flag.dest] = tuple(value) if flag.kind == "list" else value
            continue
        from_env = os.environ.get(flag.env) if flag.env else None
        if not from_env:  # unset or empty: click takes the default
            params[flag.dest] = tuple(flag.default) if flag.kind == "list" else flag.default
        elif flag.kind == "list":
            params[flag.dest] = tuple(from_env.split())  # click splits on whitespace
        elif flag.kind == "bool":
            return None  # click's reading of yes/no words: let it decide
        elif (converted := _convert(flag, from_env)) is None:
            return None
        else:
            params[flag.dest] = converted
    return params


def _convert(flag: Flag, value: str) -> Any:
    """The value as click's type for the flag makes it (None: click would refuse it)."""
    if flag.kind == "str":
        return value
    if flag.kind == "choice":
        return value if value in flag.choices else None
    try:
        return int(value) if flag.kind == "int" else float(value)
    except ValueError:
        return None
