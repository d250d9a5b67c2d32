"""The driver contract: what a driver declares (config, features) and what it implements.

A driver's persisted state is the flat `Driver` object of config.json, as in docker-machine:
the fields of its config class (`@frozen`, BaseConfig's first) plus any keys it does not know, kept.
Fields that are create flags carry their flag name, env var and help (`flag(...)`); cli/driverflags
turns them into options, so drivers never see argv or typer. This module is all a driver imports.
"""

from __future__ import annotations

import abc
import enum
import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, cast

from machine.errors import DriverError, NotSupported, PreCreateCheckFailed
from machine.frozen import MISSING, Field, field, fields, frozen, replace
from machine.store.files import PRIVATE_FILE, write_atomic
from machine.wait import attempts

__all__ = [
    "PRIVATE_FILE",
    "BaseConfig",
    "BootImage",
    "CreateRequest",
    "Driver",
    "DriverError",
    "Endpoint",
    "Features",
    "FlagSpec",
    "Learned",
    "NotSupported",
    "Orphan",
    "PreCreateCheckFailed",
    "State",
    "attempts",
    "field",
    "fields",
    "flag",
    "frozen",
    "replace",
    "write_atomic",
]

DEFAULT_ENGINE_PORT = 2376


class State(enum.Enum):
    # Order and strings are docker-machine's (libmachine/state); rancher appended NotFound.
    NONE = ""
    RUNNING = "Running"
    PAUSED = "Paused"
    SAVED = "Saved"
    STOPPED = "Stopped"
    STOPPING = "Stopping"
    STARTING = "Starting"
    ERROR = "Error"
    TIMEOUT = "Timeout"
    NOT_FOUND = "Not Found"


@frozen
class FlagSpec:
    name: str  # without the leading dashes, e.g. "generic-ip-address"
    env: str = ""
    help: str = ""
    secret: bool = False  # a password: used, never written to the store
    negates: bool = False  # a bool flag that sets its field to False (--x-no-dns-proxy)


def flag(
    name: str,
    *,
    default: Any,
    env: str = "",
    help: str = "",
    secret: bool = False,
    negates: bool = False,
) -> Any:
    """A config field that is also a create flag. Lists take `default=()` (a tuple).

    A `secret` field (a password) is never written to the store: the driver gets it from the
    flag, its environment variable or a file the user names, on every command that needs it.
    A record that already holds one (docker-machine stored passwords) keeps it as it was.

    A `negates` flag is a bool flag whose field holds the opposite (docker-machine stores
    `DNSProxy: true` for a create without `--virtualbox-no-dns-proxy`); its default is True."""
    spec = FlagSpec(name, env, help, secret, negates)
    return field(default=default, metadata={"flag": spec})


def flag_spec(f: Field) -> FlagSpec | None:
    spec = f.metadata.get("flag")
    return spec if isinstance(spec, FlagSpec) else None


@frozen
class BaseConfig:
    """docker-machine's BaseDriver fields, present in every driver's JSON.

    Frozen, and so is every driver's config (`@frozen`): a driver never changes
    its config. What it learns from its backend (an instance id, an address, a port) it
    returns from the call that learned it (`Learned`); the core applies that and saves it."""

    IPAddress: str = ""
    MachineName: str = ""
    SSHUser: str = ""
    SSHPort: int = 0
    SSHKeyPath: str = ""
    StorePath: str = ""
    SwarmMaster: bool = False
    SwarmHost: str = ""
    SwarmDiscovery: str = ""


@frozen
class Features:
    """What a driver can do, as data; the core reads these and never a driver's name."""

    provisions_engine: bool = True  # False: a record only (none); no SSH, no provisioning
    reboots_over_ssh: bool = False  # restart = reboot the OS over SSH (an existing server)
    fresh_host: bool = False  # boots a new OS: SSH may refuse the key until first boot is done
    makes_ssh_key: bool = False  # the core makes the machine's SSH key pair before create()
    seeds_host_key: bool = False  # the core makes the SSH host key; the driver seeds it, and
    # it is pinned before first contact (no trust on first use)
    # The backend cannot take concurrent calls (VBoxManage corrupts its registry): the core
    # runs every call into the driver under one lock per driver and store, across processes.
    serialize_calls: bool = False
    # The disk formats the driver boots, preferred first (qcow2, raw, vmdk, vdi, ova). Not
    # empty: the core resolves the image the user chose (Driver.image_ref), fetches it and
    # converts it once to one of these, and hands the local file over in CreateRequest.image.
    image_formats: tuple[str, ...] = ()
    direct_boot: bool = False  # can boot a kernel and initrd directly (skipping firmware)
    owns_host: bool = True  # remove deletes the host (a VM, an instance); False: it is the
    # user's (an existing server, an engine elsewhere) and stays


@frozen
class Endpoint:
    """How the core reaches a machine; drivers know nothing of Docker beyond the port number."""

    ip: str
    ssh_host: str
    ssh_port: int
    ssh_user: str
    ssh_key_path: str  # "" means the user's agent and default keys
    engine_port: int = DEFAULT_ENGINE_PORT  # where clients reach the engine
    # where the engine listens on the host, when a port forward sits in between (0: the same)
    engine_listen_port: int = 0

    @property
    def docker_url(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"tcp://{host}:{self.engine_port}"


@frozen
class BootImage:
    """What a driver boots: a local disk file in `format`, and for drivers that can boot a
    kernel directly (Features.direct_boot) the image's kernel, initrd and command line."""

    name: str
    disk: Path
    format: str
    ssh_user: str  # the login user the image's seed sets up (machine-os: docker)
    kernel: Path | None = None
    initrd: Path | None = None
    cmdline: str = ""
    # The Docker engine the image ships (machine-os): dockerd's path and the text of its own
    # docker.service, recorded when the image was built. With them the core can hand the
    # engine's TLS files and daemon settings over in the seed (CreateRequest.engine_files);
    # "" when the image has no engine, or did not record it.
    dockerd: str = ""
    dockerd_unit: str = ""


@frozen
class CreateRequest:
    machine_dir: Path
    ssh_key_path: Path  # the machine's private key (made by the core when makes_ssh_key)
    ssh_public_key: str  # its OpenSSH public line, for authorized_keys in a seed
    engine_port: int
    # Record a created resource the moment it exists: (kind, id). ops rolls back from this.
    record: Callable[[str, str], None] = field(default=lambda kind, ident: None)
    host_key_private: str = ""  # OpenSSH PEM, when the driver seeds_host_key
    host_key_public: str = ""
    deadline: float = 0.0  # time.monotonic() by which create should have an IP (0: none)
    note: Callable[[str], None] = field(default=lambda message: None)  # a line for the user
    store_id: str = ""  # the store's identity, to tag cloud resources with (Store.identity)
    image: BootImage | None = None  # the disk to boot, in one of Features.image_formats
    # When the image ships an engine: given where the engine will be reached (the address must
    # be known before boot: reserve it first), the files that let it start once, with TLS, at
    # first boot (path on the host -> (content, mode)): CA, server certificate and key, and the
    # daemon's settings. A driver that puts them in its seed saves the engine's restart; it
    # must then make the seed unreadable once the host applied it (Driver.discard_seed).
    engine_files: Callable[[Endpoint], Mapping[str, tuple[bytes, int]]] | None = None


# Config fields a call learned from the backend, by field name: {"IPAddress": "10.0.0.5"}.
# Returned by pre_create_check (choices it resolved), create, start, stop, kill, restart and
# adopt; None or {} when there is nothing new. The core applies it (Driver.learn) and saves.
Learned = Mapping[str, Any]


@frozen
class Orphan:
    """A resource tagged as made by this store that no machine in the store owns."""

    kind: str  # "instance", "key-pair", "security-group", ...
    id: str
    where: str  # region, datacenter, ...
    name: str = ""  # the machine it was made for, from its tags
    detail: str = ""  # state, creation time: what helps a user decide
    ref: str = ""  # the driver's own note for removing it (an endpoint, ...); not shown


if TYPE_CHECKING:  # a default type argument: a bare `Driver` is Driver[BaseConfig]
    from typing_extensions import TypeVar

    C = TypeVar("C", bound=BaseConfig, default=BaseConfig, covariant=True)
else:  # at run time the default changes nothing, and typing_extensions need not load
    from typing import TypeVar

    C = TypeVar("C", bound=BaseConfig, covariant=True)

# what a serialize_calls driver runs under its lock (the only ways into its backend)
SERIALIZED = ("pre_create_check", "create", "state", "start", "stop", "kill", "restart", "remove")
DRIVER_LOCK_TIMEOUT = 900.0  # another process's call may be an import of a large disk


class Driver(abc.ABC, Generic[C]):
    """The contract, generic in the driver's config class: `class Driver(BaseDriver[MyConfig])`
    gives `self.config` its type.

    Start, stop, kill and restart are optional: a driver that overrides them supports them
    (`supports("start")`); the core never calls one that is not overridden."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    Config: ClassVar[type[BaseConfig]] = BaseConfig
    features: ClassVar[Features] = Features()
    help: ClassVar[str] = ""
    # The Python modules of the backend's SDK (e.g. "libvirt"), imported only when a call
    # needs them; when one is missing the core says to install the extra that brings it
    # (`pip install 'machine[EXTRA]'`; the extra is the driver folder's, see setup.py).
    sdk: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str] = ""

    def __init__(self, config: C, unknown: dict[str, Any] | None = None) -> None:
        self.config: C = config
        self.unknown = dict(unknown or {})  # keys of a stored Driver object we do not model
        # the store this machine is in, set by the core (a record's StorePath may name the
        # folder of another computer: docker-machine stores are copied around)
        self.store_root: Path | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        config = cls.__dict__.get("Config")
        if config is not None and "__frozen_fields__" not in config.__dict__:
            raise TypeError(
                f"{cls.__qualname__}.Config ({config.__qualname__}) must be declared with "
                "@frozen from machine.driver (a dataclass would lose BaseConfig's fields)"
            )
        if not cls.features.serialize_calls:
            return
        for method in SERIALIZED:  # its own methods and those it inherits
            function = getattr(cls, method)
            if function is getattr(Driver, method, None):
                continue  # the contract's default ("not supported"): no backend call
            if not getattr(function, "serialized", False):
                setattr(cls, method, _serialized(function))
        batch = cls.__dict__.get("states") or next(
            (c.__dict__["states"] for c in cls.__mro__ if "states" in c.__dict__), None
        )
        if batch is not None and not getattr(batch.__func__, "serialized", False):
            # setattr: mypy cannot follow a classmethod replaced on the class
            setattr(cls, "states", classmethod(_serialized_batch(batch.__func__)))  # noqa: B010

    @classmethod
    def missing_sdk(cls) -> list[str]:
        """The SDK modules that cannot be imported here (none: the driver can work)."""
        import importlib.util

        missing = []
        for module in cls.sdk:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                missing.append(module)
        return missing

    @classmethod
    def supports(cls, operation: str) -> bool:
        """Whether the driver implements an optional operation (start, stop, kill, restart)."""
        return getattr(cls, operation) is not getattr(Driver, operation)

    def call_lock(self) -> Path:
        """The lock every call of a serialize_calls driver holds: one per driver and store."""
        root = self.store_root or Path(self.config.StorePath)
        return root / f".driver-{self.name}.lock"

    # --- state as JSON --------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Driver:
        """The driver of a stored `Driver` object; each known field is type-checked and the
        SSH user, host and port validated (machine.shape.ShapeError names the bad field)."""
        from machine.shape import ShapeError, conform

        names, secrets = _config_shape(cls.Config)
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in names:
                kind, default = names[key]
                if value is None and "tuple" not in kind:
                    if default is not MISSING:
                        kwargs[key] = default  # null where a value was never set
                    continue
                if type(value) is not _PLAIN.get(kind) or (kind == "str" and "\0" in str(value)):
                    value = conform(value, kind, f"Driver.{key}")
                kwargs[key] = value
        unknown = {k: v for k, v in data.items() if k not in names}
        for key in secrets & data.keys():
            unknown[key] = data[key]  # stored before (docker-machine): written back as it was
        config = cls.Config(**kwargs)
        problem = cls.ssh_problem(config)
        if problem:
            raise ShapeError(problem)
        return cls(cast(Any, config), unknown)  # cls.Config is the class of cls's C

    def learn(self, learned: Learned | None) -> bool:
        """Apply what a call returned to the config (each value type-checked, the SSH fields
        validated as on load); whether anything changed. Only the core calls this, and then
        saves the record."""
        if not learned:
            return False
        from machine.shape import ShapeError, conform

        names = {f.name: f for f in fields(self.config)}
        values: dict[str, Any] = {}
        for key, value in learned.items():
            if key not in names:
                raise DriverError(f"the {self.name} driver returned an unknown field {key!r}")
            raw = list(value) if isinstance(value, tuple) else value
            values[key] = conform(raw, str(names[key].type), f"Driver.{key}")
        config = replace(self.config, **values)
        if problem := self.ssh_problem(config):
            raise ShapeError(problem)
        changed = config != self.config
        self.config = cast(Any, config)
        return changed

    @classmethod
    def ssh_problem(cls, config: BaseConfig) -> str:
        """Why the SSH user, host or port of `config` cannot be used ("" when they can). They
        become arguments of ssh and lines of ssh_config: nothing else may get through."""
        from machine.addresses import host_problem, port_problem, ssh_user_problem

        if config.SSHUser and (why := ssh_user_problem(config.SSHUser)):
            return f"Driver.SSHUser: {why}"
        if why := port_problem(config.SSHPort, allow_unset=True):
            return f"Driver.SSHPort: {why}"
        reached = cls.features.provisions_engine and config.IPAddress
        if reached and (why := host_problem(config.IPAddress)):
            return f"Driver.IPAddress: {why}"
        return ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        secrets = secret_fields(type(self.config))
        for f in fields(self.config):
            if f.name in secrets:
                continue
            value = getattr(self.config, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        out.update(self.unknown)
        return out

    # --- the contract ---------------------------------------------------------------------

    def pre_create_check(self) -> Learned | None:
        """Validate before anything is made or saved; raise PreCreateCheckFailed (exit 3).
        Defaults it resolved with the backend's help (an image id, a subnet) it returns."""
        return None

    def image_ref(self) -> str:
        """The boot image the user chose (drivers with Features.image_formats): machine-os, a
        catalog name, a URL (URL#sha256:<hex> pins its digest) or a file."""
        return "machine-os"

    @abc.abstractmethod
    def create(self, request: CreateRequest) -> Learned | None:
        """Make the host and return what the backend told about it (ids, address, ports);
        once the core has applied that, endpoint() can answer (the host may still boot).
        Everything made is recorded with request.record the moment it exists: a failed
        create returns nothing, and the core rolls back through adopt() and remove()."""

    @abc.abstractmethod
    def endpoint(self) -> Endpoint: ...

    def url(self) -> str:
        """The engine's URL, from the record alone (no backend call)."""
        return self.endpoint().docker_url

    @abc.abstractmethod
    def state(self) -> State: ...

    @classmethod
    def states(cls, drivers: Sequence[Driver]) -> list[State]:
        """The state of many machines of this driver; override to batch backend calls."""
        return [d.state() for d in drivers]

    def start(self) -> Learned | None:
        """Power on; what changed (a new address) is returned."""
        raise NotSupported(f"{self.name} driver does not support start")

    def stop(self) -> Learned | None:
        raise NotSupported(f"{self.name} driver does not support stop")

    def kill(self) -> Learned | None:
        raise NotSupported(f"{self.name} driver does not support kill")

    def restart(self) -> Learned | None:
        raise NotSupported(f"{self.name} driver does not support restart")

    @abc.abstractmethod
    def remove(self) -> None:
        """Delete what the driver made; something already gone is success."""

    def discard_seed(self) -> None:
        """The host has applied its seed and the core has replaced or proven what it carried
        (the host key, the engine's key): a seed that stays readable (an ISO volume, user data)
        is removed now. Called once, at the end of a create that succeeded."""
        return None

    def adopt(self, resources: Sequence[tuple[str, str]]) -> Learned | None:
        """Resources a create recorded in its journal (request.record) but never returned (it
        failed, or was killed): the config fields that name them, so that once the core has
        applied them remove() deletes them too. What the config already holds wins."""
        return None

    # --- resources no machine owns (optional) ---------------------------------------------

    @classmethod
    def orphans(cls, owned: Sequence[Driver], store_id: str) -> list[Orphan]:
        """Resources tagged with this store's id that none of `owned` accounts for."""
        return []

    @classmethod
    def remove_orphan(cls, orphan: Orphan) -> None:
        raise NotSupported(f"{cls.name} driver does not track orphaned resources")


def _serialized(method: Callable[..., Any]) -> Callable[..., Any]:
    from machine.store.locks import exclusive

    @functools.wraps(method)
    def call(self: Driver, *args: Any, **kwargs: Any) -> Any:
        with exclusive(self.call_lock(), DRIVER_LOCK_TIMEOUT):  # reentrant within a thread
            return method(self, *args, **kwargs)

    call.serialized = True  # type: ignore[attr-defined]
    return call


def _serialized_batch(method: Callable[..., Any]) -> Callable[..., Any]:
    from machine.store.locks import exclusive

    @functools.wraps(method)
    def call(cls: type[Driver], drivers: Sequence[Driver]) -> Any:
        if not drivers:
            return method(cls, drivers)
        with exclusive(drivers[0].call_lock(), DRIVER_LOCK_TIMEOUT):
            return method(cls, drivers)

    call.serialized = True  # type: ignore[attr-defined]
    return call


# A value of exactly these types is what the field declares (str: without a NUL); anything
# else goes through machine.shape.conform, which converts what it may and names what it may not.
_PLAIN = {"str": str, "bool": bool, "int": int}


_SHAPES: dict[type, tuple[dict[str, tuple[str, Any]], frozenset[str]]] = {}


def _config_shape(
    config_class: type[BaseConfig],
) -> tuple[dict[str, tuple[str, Any]], frozenset[str]]:
    """({field: (type, default)}, secret fields) of a config class, worked out once (`ls`
    reads thousands of configs of a few classes)."""
    known = _SHAPES.get(config_class)
    if known is None:
        shape = {f.name: (str(f.type).replace(" ", ""), f.default) for f in fields(config_class)}
        known = _SHAPES[config_class] = (shape, frozenset(secret_fields(config_class)))
    return known


def secret_fields(config_class: type[BaseConfig]) -> set[str]:
    return {f.name for f in fields(config_class) if (s := flag_spec(f)) and s.secret}


def create_flags(config_class: type[BaseConfig]) -> list[tuple[Field, FlagSpec]]:
    return [(f, s) for f in fields(config_class) if (s := flag_spec(f)) is not None]
