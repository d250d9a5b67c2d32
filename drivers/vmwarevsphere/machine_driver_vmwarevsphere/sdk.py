"""pyVmomi, imported when a call needs it, as an untyped module: its generated classes carry no
annotations, so the driver's code types what it returns itself."""

from __future__ import annotations

import importlib
from typing import Any


def vim() -> Any:
    return importlib.import_module("pyVmomi").vim


def vmodl() -> Any:
    return importlib.import_module("pyVmomi").vmodl


def connect() -> Any:
    """pyVim.connect (SmartConnect, Disconnect)."""
    return importlib.import_module("pyVim.connect")
