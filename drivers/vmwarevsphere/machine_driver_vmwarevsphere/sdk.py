"""pyVmomi, imported when a call needs it, as an untyped module: its generated classes carry no
annotations, so the driver's code types what it returns itself."""

from __future__ import annotations

import contextlib
import http.client
import importlib
from collections.abc import Iterator
from typing import Any


def vim() -> Any:
    return importlib.import_module("pyVmomi").vim


def vmodl() -> Any:
    return importlib.import_module("pyVmomi").vmodl


def connect() -> Any:
    """pyVim.connect (SmartConnect, Disconnect)."""
    return importlib.import_module("pyVim.connect")


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """vSphere's faults and a lost connection as a DriverError naming `what` (pyVmomi's own
    exceptions print as pages of object dumps)."""
    from machine.driver import DriverError

    try:
        yield
    except DriverError:
        raise
    except (OSError, http.client.HTTPException) as exc:
        raise DriverError(f"{what}: the connection to vCenter failed ({exc})") from None
    except Exception as exc:
        if isinstance(exc, vmodl().MethodFault):
            message = getattr(exc, "msg", "") or type(exc).__name__.rpartition(".")[2]
            raise DriverError(f"{what}: {message}") from None
        raise
