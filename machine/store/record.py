"""The machine record: docker-machine's config.json (ConfigVersion 3) as frozen record classes.

Field names, order and JSON key quirks (`Dns`, `TlsVerify`) follow docker-machine so that its
tools and scripts read our files and we read theirs. Keys we do not know are kept (`extra`) and
written back unchanged. The `Driver` object belongs to the driver and stays a plain dict here.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

from machine.frozen import field, fields, frozen, replace

CONFIG_VERSION = 3
DEFAULT_INSTALL_URL = "https://get.docker.com"

JSON = dict[str, Any]


@frozen
class EngineOptions:
    ArbitraryFlags: tuple[str, ...] = ()
    Dns: tuple[str, ...] | None = None
    GraphDir: str = ""
    Env: tuple[str, ...] = ()
    Ipv6: bool = False
    InsecureRegistry: tuple[str, ...] = ()
    Labels: tuple[str, ...] = ()
    LogLevel: str = ""
    StorageDriver: str = ""
    SelinuxEnabled: bool = False
    TlsVerify: bool = True
    RegistryMirror: tuple[str, ...] = ()
    # Empty means "the distribution's own engine package"; a URL means "run this install script".
    InstallURL: str = ""
    extra: JSON = field(default_factory=dict, compare=False)


@frozen
class SwarmOptions:
    IsSwarm: bool = False
    Address: str = ""
    Discovery: str = ""
    Agent: bool = False
    Master: bool = False
    Host: str = "tcp://0.0.0.0:3376"
    Image: str = "swarm:latest"
    Strategy: str = "spread"
    Heartbeat: int = 0
    Overcommit: float = 0
    ArbitraryFlags: tuple[str, ...] = ()
    ArbitraryJoinFlags: tuple[str, ...] = ()
    Env: tuple[str, ...] | None = None
    IsExperimental: bool = False
    extra: JSON = field(default_factory=dict, compare=False)


@frozen
class AuthOptions:
    CertDir: str = ""
    CaCertPath: str = ""
    CaPrivateKeyPath: str = ""
    CaCertRemotePath: str = ""
    ServerCertPath: str = ""
    ServerKeyPath: str = ""
    ClientKeyPath: str = ""
    ServerCertRemotePath: str = ""
    ServerKeyRemotePath: str = ""
    ClientCertPath: str = ""
    ServerCertSANs: tuple[str, ...] = ()
    StorePath: str = ""
    extra: JSON = field(default_factory=dict, compare=False)


@frozen
class HostOptions:
    Driver: str = ""
    Memory: int = 0
    Disk: int = 0
    EngineOptions: EngineOptions = field(default_factory=EngineOptions)
    SwarmOptions: SwarmOptions = field(default_factory=SwarmOptions)
    AuthOptions: AuthOptions = field(default_factory=AuthOptions)
    extra: JSON = field(default_factory=dict, compare=False)


@frozen
class HostRecord:
    Name: str
    DriverName: str
    Driver: JSON = field(default_factory=dict)
    HostOptions: HostOptions = field(default_factory=HostOptions)
    ConfigVersion: int = CONFIG_VERSION
    extra: JSON = field(default_factory=dict, compare=False)

    def with_driver(self, driver: JSON) -> HostRecord:
        return replace(self, Driver=dict(driver))


# --- (de)serialisation ---------------------------------------------------------------------

_NESTED = {"EngineOptions", "SwarmOptions", "AuthOptions"}


def _to_json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def _dump(obj: Any, order: list[str]) -> JSON:
    out: JSON = {}
    for key in order:
        value = getattr(obj, key)
        if key in _NESTED:
            out[key] = _dump(value, _fields(type(value)))
        else:
            out[key] = _to_json_value(value)
    out.update(obj.extra)
    return out


def _fields(cls: type) -> list[str]:
    return list(_field_types(cls))


@functools.cache
def _field_types(cls: type) -> dict[str, str]:
    """Each field's declared type, by name (once per class: `ls` reads thousands of records)."""
    return {f.name: str(f.type).replace(" ", "") for f in fields(cls) if f.name != "extra"}


# A value of exactly these types is what the field declares (str: without a NUL); anything
# else goes through machine.shape.conform, which converts what it may and names what it may not.
_PLAIN = {"str": str, "bool": bool, "int": int}


def _plain_str(value: Any) -> bool:
    return type(value) is str and "\0" not in value


def _all_str(values: list[Any]) -> bool:
    return all(type(v) is str for v in values)


def record_to_json(record: HostRecord) -> JSON:
    """The dict docker-machine writes, keys in its order."""
    out: JSON = {
        "ConfigVersion": record.ConfigVersion,
        "Driver": record.Driver,
        "DriverName": record.DriverName,
        "HostOptions": _dump(record.HostOptions, _fields(HostOptions)),
        "Name": record.Name,
    }
    out.update(record.extra)
    return out


def record_to_text(record: HostRecord) -> str:
    # Go's json.MarshalIndent(host, "", "    ") with no trailing newline.
    return json.dumps(record_to_json(record), indent=4, ensure_ascii=False)


def _load(cls: type, data: Any, where: str) -> Any:
    """`cls` from a JSON object; each known field type-checked (ShapeError names it)."""
    if data is None:
        data = {}  # rancher writes null options when a custom install script is used
    if not isinstance(data, dict):
        from machine.shape import ShapeError

        raise ShapeError(f"{where} must be an object")
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    plan = _plan(cls)
    # one pass over the record's keys (ls reads thousands): most values are exactly the type
    # the field declares, and only the others go through conform
    for name, value in data.items():
        check = plan.get(name)
        if check is None:
            extra[name] = value
        elif check is _NESTED_FIELD:
            kwargs[name] = _load(_NESTED_TYPES[name], value, f"{where}.{name}")
        elif check is float:  # as conform: a finite number; Go writes a float64 0 as `0`
            number = type(value) is int or (type(value) is float and math.isfinite(value))
            kwargs[name] = value if number else _conformed(cls, name, value, where)
        elif type(value) is check and (check is not str or "\0" not in value):
            kwargs[name] = value
        elif check is tuple and _strings(value):
            kwargs[name] = tuple(value)
        elif check is _STRINGS_OR_NONE and (value is None or _strings(value)):
            kwargs[name] = None if value is None else tuple(value)
        else:
            kwargs[name] = _conformed(cls, name, value, where)
    return cls(**kwargs, extra=extra)


def _conformed(cls: type, name: str, value: Any, where: str) -> Any:
    from machine.shape import conform

    return conform(value, _field_types(cls)[name], f"{where}.{name}")


_NESTED_FIELD = object()  # in a plan: the field is an object of its own (EngineOptions, ...)
_STRINGS_OR_NONE = object()  # in a plan: tuple[str, ...] | None


def _strings(value: Any) -> bool:
    return type(value) is list and _all_str(value)


@functools.cache
def _plan(cls: type) -> dict[str, Any]:
    """Field name -> the type a value of it is taken as is (str, bool, int; tuple: a list of
    strings), _NESTED_FIELD, or object (always through conform)."""
    plan: dict[str, Any] = {}
    for name, kind in _field_types(cls).items():
        if name in _NESTED:
            plan[name] = _NESTED_FIELD
        elif kind in _PLAIN:
            plan[name] = _PLAIN[kind]
        elif kind == "tuple[str,...]|None":
            plan[name] = _STRINGS_OR_NONE
        elif kind.startswith("tuple[str"):
            plan[name] = tuple
        elif kind == "float":
            plan[name] = float  # a float as is (finite: conform checks), an int as is
        else:
            plan[name] = object  # never `type(value) is object`: conform decides
    return plan


_NESTED_TYPES: dict[str, type] = {
    "EngineOptions": EngineOptions,
    "SwarmOptions": SwarmOptions,
    "AuthOptions": AuthOptions,
}


def record_from_json(data: JSON) -> HostRecord:
    """The record from its JSON; raises machine.shape.ShapeError for a value of a wrong type."""
    from machine.shape import ShapeError, conform

    known = {"ConfigVersion", "Driver", "DriverName", "HostOptions", "Name"}
    driver = data.get("Driver")
    if driver is not None and not isinstance(driver, dict):
        raise ShapeError("Driver must be an object")
    name, driver_name = data.get("Name", ""), data.get("DriverName", "")
    version = data.get("ConfigVersion", CONFIG_VERSION)
    return HostRecord(
        Name=name if _plain_str(name) else conform(name, "str", "Name"),
        DriverName=(
            driver_name if _plain_str(driver_name) else conform(driver_name, "str", "DriverName")
        ),
        Driver=dict(driver) if driver else {},
        HostOptions=_load(HostOptions, data.get("HostOptions"), "HostOptions"),
        ConfigVersion=(
            version if type(version) is int else conform(version, "int", "ConfigVersion")
        ),
        extra={k: v for k, v in data.items() if k not in known},
    )
