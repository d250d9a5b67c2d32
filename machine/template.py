"""A small interpreter for the Go text/template subset that `inspect -f` scripts use.

Supported: literal text, `{{.A.B.C}}` field paths, `{{json .X}}`, `{{prettyjson .X}}`.
Anything else is refused with a clear error (never silently mis-rendered).
"""

from __future__ import annotations

import json
import re
from typing import Any

from machine.errors import UsageError

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")


def render(template: str, data: Any) -> str:
    out: list[str] = []
    pos = 0
    for m in _ACTION.finditer(template):
        out.append(template[pos : m.start()])
        out.append(_action(m.group(1), data))
        pos = m.end()
    out.append(template[pos:])
    return "".join(out)


def _action(expr: str, data: Any) -> str:
    words = expr.split()
    if len(words) == 1 and words[0].startswith("."):
        return _text(_path(words[0], data))
    if len(words) == 2 and words[0] in ("json", "prettyjson") and words[1].startswith("."):
        value = _path(words[1], data)
        if words[0] == "json":
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return json.dumps(value, indent=4, ensure_ascii=False)
    raise UsageError(
        f"Template parsing error: unsupported action {{{{{expr}}}}} "
        "(supported: {{.Field.Path}}, {{json .X}}, {{prettyjson .X}})"
    )


def _path(path: str, data: Any) -> Any:
    value = data
    for part in [p for p in path.split(".") if p]:
        if not isinstance(value, dict) or part not in value:
            raise UsageError(f"Template parsing error: can't evaluate field {part}")
        value = value[part]
    return value


def _text(value: Any) -> str:
    # Go prints nil as <nil>, bools as true/false, slices as [a b].
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_text(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)
