"""Parsing /etc/os-release (os-release(5)) into the fields detection uses."""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class OSRelease:
    id: str = ""
    id_like: tuple[str, ...] = ()
    version_id: str = ""
    pretty_name: str = ""

    @property
    def ids(self) -> tuple[str, ...]:
        """ID first, then ID_LIKE in its order: the order detection tries them."""
        return (self.id, *self.id_like)


def parse(text: str) -> OSRelease:
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            words = shlex.split(raw)
        except ValueError:
            continue  # an unbalanced quote: skip the line, as os-release(5) readers do
        values[key.strip()] = words[0] if words else ""
    return OSRelease(
        id=values.get("ID", "").lower(),
        id_like=tuple(values.get("ID_LIKE", "").lower().split()),
        version_id=values.get("VERSION_ID", ""),
        pretty_name=values.get("PRETTY_NAME", ""),
    )
