"""The contract suite's backend for `none` (tests/backend/test_contract.py): an engine URL on
127.0.0.1 (nothing needs to listen there)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def backend(tmp: Path) -> Iterator[dict[str, Any]]:
    yield {"URL": "tcp://127.0.0.1:2376"}
