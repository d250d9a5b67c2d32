"""The import-boundary check: each layer imports only what DESIGN.md allows it.

Run as `python tools/check_imports.py`; exits 1 and lists every violation. Imports inside
functions count too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# module (or package prefix) -> the machine.* modules it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "machine.certs": ("machine.",),
    "machine.env": ("machine.",),
    "machine.engine": ("machine.",),
    "machine.host": ("machine.",),
    "machine.paths": ("machine.",),
    "machine.files": ("machine.",),
    "machine.errors": ("machine.",),
    "machine.shape": ("machine.",),
    "machine.store": (
        "machine.cli",
        "machine.ops",
        "machine.ssh",
        "machine.provision",
        "machine.certs",
        "machine.registry",
        "machine.driver",
    ),
    "machine.driver": (
        "machine.cli",
        "machine.ops",
        "machine.ssh",
        "machine.provision",
        "machine.certs",
        "machine.store",
        "machine.registry",
    ),
    "machine.registry": (
        "machine.cli",
        "machine.ops",
        "machine.ssh",
        "machine.provision",
        "machine.certs",
        "machine.store",
    ),
    "machine.ssh": (
        "machine.cli",
        "machine.ops",
        "machine.provision",
        "machine.store",
        "machine.registry",
        "machine.driver",
    ),
    "machine.provision": (
        "machine.cli",
        "machine.ops",
        "machine.store",
        "machine.registry",
        "machine.driver",
    ),
    "machine.ops": ("machine.cli",),
    "machine.listing": ("machine.cli",),
}
# Drivers are plugins: the contract module (and the seed writer) is all they may use; the core
# fetches and converts their images. A folder's contract.py is test support, not the driver.
DRIVER_ALLOWED = ("machine.driver", "machine.seed")


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module != "machine":  # `from machine import x` is an import of machine.x
                found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def violations() -> list[str]:
    out: list[str] = []
    for path in sorted((ROOT / "machine").rglob("*.py")):
        mod = module_name(path)
        rules = [v for k, v in FORBIDDEN.items() if mod == k or mod.startswith(k + ".")]
        for lineno, name in imports_of(path):
            for banned in (b for rule in rules for b in rule):
                if (name + ".").startswith(
                    banned if banned.endswith(".") else banned + "."
                ) and not (name == mod or name.startswith(mod + ".") or _is_leaf(name)):
                    out.append(f"{path.relative_to(ROOT)}:{lineno}: {mod} must not import {name}")
    for path in sorted((ROOT / "drivers").glob("*/machine_driver_*/**/*.py")):
        for lineno, name in imports_of(path):
            ours = name == "machine" or name.startswith("machine.")
            if ours and not any(name == a or name.startswith(a + ".") for a in DRIVER_ALLOWED):
                out.append(
                    f"{path.relative_to(ROOT)}:{lineno}: a driver must import only "
                    f"{', '.join(DRIVER_ALLOWED)}, not {name}"
                )
    return out


# Every layer may use these: they import nothing of machine themselves (errors: the shared
# error tree; shape: type checks of JSON values read from the store).
LEAVES = ("machine.errors", "machine.shape")


def _is_leaf(name: str) -> bool:
    return any(name == leaf or name.startswith(leaf + ".") for leaf in LEAVES)


def main() -> int:
    found = violations()
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} import-boundary violation(s)")
        return 1
    print("import boundaries: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
