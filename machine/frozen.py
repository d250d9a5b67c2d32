"""Frozen record classes, as `@dataclass(frozen=True)` makes them, without its cost at start-up.

The records every command reads (config.json, a driver's config, the driver contract's values)
are frozen dataclasses in all but name. The dataclasses module costs a command about as much as
starting the interpreter: it imports `inspect` (with `ast`, `dis`, `tokenize`), and it writes
and compiles `__init__`, `__eq__`, `__hash__`, `__setattr__` and `__repr__` for every class when
the class is defined. Here a class is prepared in a few microseconds: `__init__` is compiled the
first time an instance is made (most commands make instances of a few classes only), and the
other methods are shared.

What is kept from dataclasses: fields from annotations in definition order, base classes'
fields first (a redefined field keeps its place), `field(default=, default_factory=,
metadata=, compare=)`, keyword or positional construction, equality and hashing over the
compared fields, an error on assignment, `fields()` and `replace()`. Type checkers see the
decorator as a dataclass transform.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """An assignment to a field of a frozen instance."""


class Field:
    __slots__ = ("compare", "default", "default_factory", "metadata", "name", "type")

    def __init__(
        self,
        default: Any = MISSING,
        default_factory: Any = MISSING,
        metadata: dict[str, Any] | None = None,
        compare: bool = True,
    ) -> None:
        self.name = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.metadata: dict[str, Any] = metadata or {}
        self.compare = compare

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r})"


def field(
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | Any = MISSING,
    metadata: dict[str, Any] | None = None,
    compare: bool = True,
) -> Any:
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, metadata, compare)


_FIELDS = "__frozen_fields__"


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def frozen(cls: type[T]) -> type[T]:
    """Make `cls` a frozen record class (see the module's text)."""
    found: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in base.__dict__.get(_FIELDS, ()):
            found[f.name] = f
    # the class's own annotations (inspect.get_annotations would import inspect, the cost
    # this module exists to avoid)
    own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    for name, annotation in own.items():
        if _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, MISSING)
        if isinstance(value, Field):
            f = value
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        else:
            if isinstance(value, (list, dict, set)):
                raise ValueError(f"mutable default {type(value)} for field {name}")
            f = Field(default=value)
        f.name, f.type = name, annotation
        found[name] = f
    setattr(cls, _FIELDS, tuple(found.values()))
    setattr(cls, "__init__", _first_init)  # noqa: B010  (compiled on first use, per class)
    if "__repr__" not in cls.__dict__:
        setattr(cls, "__repr__", _repr)  # noqa: B010
    if "__eq__" not in cls.__dict__:
        setattr(cls, "__eq__", _eq)  # noqa: B010
        setattr(cls, "__hash__", _hash)  # noqa: B010
    setattr(cls, "__setattr__", _refuse_set)  # noqa: B010
    setattr(cls, "__delattr__", _refuse_del)  # noqa: B010
    return cls


def _is_classvar(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a frozen record class or instance."""
    found = getattr(obj, _FIELDS, None)
    if found is None:
        raise TypeError(f"{obj!r} is not a frozen record class or instance")
    return tuple(found)


def replace(obj: T, **changes: Any) -> T:
    """A copy of `obj` with `changes` (names that are not fields are refused)."""
    values = {f.name: getattr(obj, f.name) for f in fields(obj)}
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field(s) {', '.join(sorted(unknown))}")
    values.update(changes)
    return type(obj)(**values)


def _first_init(self: Any, *args: Any, **kwargs: Any) -> None:
    """Compile the class's own __init__, put it in place, and run it."""
    cls = type(self)
    for klass in cls.__mro__:  # the frozen class this instance is made from
        if klass.__dict__.get("__init__") is _first_init:
            break
    init = _compile_init(klass)
    setattr(klass, "__init__", init)  # noqa: B010
    init(self, *args, **kwargs)


def _compile_init(cls: type) -> Callable[..., None]:
    names: dict[str, Any] = {"_set": object.__setattr__, "MISSING": MISSING}
    # Values go straight into the instance's __dict__ (past the __setattr__ that refuses
    # them), which takes half the time of object.__setattr__ per field: `ls` makes thousands.
    # A class with __slots__ has no __dict__ to write to.
    slotted = any("__slots__" in klass.__dict__ for klass in cls.__mro__[:-1])
    params, body = [], [] if slotted else ["    _v = self.__dict__"]

    def store(name: str, value: str) -> str:
        return f"    _set(self, {name!r}, {value})" if slotted else f"    _v[{name!r}] = {value}"

    for i, f in enumerate(getattr(cls, _FIELDS)):
        if f.default is not MISSING:
            names[f"_d{i}"] = f.default
            params.append(f"{f.name}=_d{i}")
            body.append(store(f.name, f.name))
        elif f.default_factory is not MISSING:
            names[f"_f{i}"] = f.default_factory
            params.append(f"{f.name}=MISSING")
            body.append(store(f.name, f"_f{i}() if {f.name} is MISSING else {f.name}"))
        else:
            params.append(f.name)
            body.append(store(f.name, f.name))
    source = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or "    pass")
    exec(source, names)  # noqa: S102  (names and defaults are the class's own)
    init: Callable[..., None] = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _values(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, f.name) for f in getattr(self, _FIELDS) if f.compare)


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _repr(self: Any) -> str:
    inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in getattr(self, _FIELDS))
    return f"{type(self).__qualname__}({inner})"


def _refuse_set(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_del(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")
