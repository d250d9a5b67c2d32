"""JSON values checked against the field types records declare, when a record is read.

A store copied from elsewhere can hold anything; a value of the wrong type must stop at the
file it came from with a message naming the field, not crash a command far away. Only the
types records use are known: str, int, float, bool, tuple[str, ...] (optionally | None).
"""

from __future__ import annotations

import math
from typing import Any


class ShapeError(ValueError):
    """A field holds a value of the wrong type; the message names the field."""


def conform(value: Any, type_text: str, where: str) -> Any:
    """`value` as a field of type `type_text` holds it, or ShapeError naming `where`."""
    kind = type_text.replace(" ", "")
    if kind == "str":
        if isinstance(value, str) and "\0" not in value:  # no file or host name holds a NUL
            return value
        raise ShapeError(f"{where} must be a string, not {_describe(value)}")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ShapeError(f"{where} must be true or false, not {_describe(value)}")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            return int(value)  # Go's encoder never writes 1.0, but a hand edit might
        raise ShapeError(f"{where} must be a whole number, not {_describe(value)}")
    if kind == "float":
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and math.isfinite(value):
            return value  # an int stays one: Go writes a float64 0 as `0`
        raise ShapeError(f"{where} must be a number, not {_describe(value)}")
    if kind in ("tuple[str,...]", "tuple[str,...]|None"):
        if value is None:
            return None if kind.endswith("None") else ()
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ShapeError(f"{where} must be a list of strings, not {_describe(value)}")
    return value  # a type records do not use: left as it is


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
