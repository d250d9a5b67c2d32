"""The import-boundary check: each module imports only what its layer allows it
(docs/architecture.md describes the layers).

Two rules, both enforced:
- LAYERS: every module of machine/ belongs to a layer and imports only from its own layer or
  the ones below it (a module in no layer is a violation: new modules get a rule);
- FORBIDDEN: finer rules inside and across layers (the store knows nothing of drivers...).
Drivers (drivers/*/machine_driver_*) import only DRIVER_ALLOWED.

Run as `python tools/check_imports.py`; exits 1 and lists every violation. Imports inside
functions count too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Packages that only group modules by concern: their __init__ imports nothing, and
# `from machine.store import paths` is an import of machine.store.paths alone.
GROUPS = (
    "machine.store",  # the on-disk store: records, locks, journals, migrations, file names
    "machine.tls",  # keys, certificates, the store's CA, the local TLS check
    "machine.remote",  # SSH and file transfer
    "machine.images",  # boot images: catalog, cache, machine-os, disk formats
    "machine.docker",  # the engine: daemon configuration, API over TLS
    "machine.render",  # text for users: templates, tables, env
)

# Lowest first. A module may import modules of its own layer and of the layers before it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        # values and text: import nothing above (most import nothing of machine at all)
        "base",
        (
            "machine.errors",
            "machine.shape",
            "machine.frozen",
            "machine.wait",
            "machine.addresses",
            "machine.progress",
            "machine.seed",
            "machine.store.paths",
            "machine.store.files",
            "machine.store.record",
            "machine.render.tabwriter",
            "machine.render.env",
            "machine.render.template",
            "machine.docker.engine",
            "machine.tls.certs",
            "machine.images.imageformats",
            "machine.provision.osrelease",
            "machine",  # the package itself (its version), and only it: see layer_of
        ),
    ),
    (
        # one resource each: a lock, a journal, an SSH connection, a TLS check; the contract
        "resources",
        (
            "machine.store.locks",
            "machine.store.journal",
            "machine.store.migrate",
            "machine.remote.ssh",
            "machine.tls.tlscheck",
            "machine.docker.contexts",
            "machine.driver",
        ),
    ),
    (
        # what the operations stand on: the store, the CA, drivers found, images, the engine
        # API, provisioning a host over SSH, file transfers, test doubles
        "services",
        (
            "machine.store.filestore",
            "machine.tls.certstore",
            "machine.registry",
            "machine.images.cache",
            "machine.images.osimage",
            "machine.docker.dockerapi",
            "machine.remote.transfer",
            "machine.provision",
            "machine.testing",
        ),
    ),
    # the only code that sequences steps (ls is one of them)
    ("operations", ("machine.ops",)),
    # commands: parse, call operations, render, exit
    ("commands", ("machine.cli", "machine.__main__")),
]

_ABOVE_SERVICES = ("machine.ops", "machine.cli")

# module or package -> the machine.* modules it must never import (on top of the layers)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # leaves of the base layer: nothing of ours (errors and shape excepted, see LEAVES)
    "machine.errors": ("machine.",),
    "machine.shape": ("machine.",),
    "machine.frozen": ("machine.",),
    "machine.tls.certs": ("machine.",),
    "machine.render": ("machine.",),
    "machine.docker.engine": ("machine.",),
    "machine.store.record": ("machine.",),
    "machine.store.paths": ("machine.",),
    "machine.store.files": ("machine.",),
    # the store knows nothing of drivers, SSH, TLS, images or the engine
    "machine.store": (
        *_ABOVE_SERVICES,
        "machine.tls",
        "machine.remote",
        "machine.images",
        "machine.docker",
        "machine.render",
        "machine.provision",
        "machine.registry",
        "machine.driver",
    ),
    # certificates live in the store's folders, and that is all TLS knows of the rest
    "machine.tls": (
        *_ABOVE_SERVICES,
        "machine.remote",
        "machine.images",
        "machine.docker",
        "machine.render",
        "machine.provision",
        "machine.registry",
        "machine.driver",
        "machine.store.filestore",
    ),
    "machine.remote": (
        *_ABOVE_SERVICES,
        "machine.tls",
        "machine.images",
        "machine.docker",
        "machine.render",
        "machine.provision",
        "machine.registry",
        "machine.driver",
    ),
    "machine.remote.ssh": ("machine.store.filestore",),
    # images and the engine API use the contract's types (BootImage, the engine port)
    "machine.images": (
        *_ABOVE_SERVICES,
        "machine.tls",
        "machine.remote",
        "machine.docker",
        "machine.render",
        "machine.provision",
        "machine.registry",
        "machine.store.filestore",
    ),
    "machine.docker": (
        *_ABOVE_SERVICES,
        "machine.store",
        "machine.tls",
        "machine.remote",
        "machine.images",
        "machine.render",
        "machine.provision",
        "machine.registry",
    ),
    # the contract: what drivers see of the core
    "machine.driver": (
        *_ABOVE_SERVICES,
        "machine.remote",
        "machine.provision",
        "machine.tls",
        "machine.images",
        "machine.docker",
        "machine.render",
        "machine.store.filestore",
        "machine.registry",
    ),
    "machine.registry": (
        *_ABOVE_SERVICES,
        "machine.remote",
        "machine.provision",
        "machine.tls",
        "machine.images",
        "machine.docker",
        "machine.render",
        "machine.store.filestore",
    ),
    # provisioning runs commands on a host: it knows the engine's config, not the store
    "machine.provision": (
        *_ABOVE_SERVICES,
        "machine.store.filestore",
        "machine.registry",
        "machine.driver",
        "machine.images",
        "machine.render",
    ),
    "machine.ops": ("machine.cli",),
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
            # `from machine import x` is an import of machine.x (and so for GROUPS)
            if node.module != "machine" and node.module not in GROUPS:
                found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the longest prefix naming `module` (None: no rule)."""
    best: tuple[int, int] | None = None
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            below = prefix != "machine" and module.startswith(prefix + ".")
            if (module == prefix or below) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return None if best is None else best[0]


def _target(name: str) -> str:
    """The machine module an imported name lives in (`machine.errors.X` -> machine.errors)."""
    parts = name.split(".")
    while len(parts) > 1:
        path = ROOT.joinpath(*parts)
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            break
        parts.pop()
    return ".".join(parts)


def violations() -> list[str]:
    out: list[str] = []
    for path in sorted((ROOT / "machine").rglob("*.py")):
        mod = module_name(path)
        if mod in GROUPS:
            if any(n.startswith("machine") for _, n in imports_of(path)):
                out.append(f"{path.relative_to(ROOT)}: {mod} groups modules; it imports nothing")
            continue
        mine = layer_of(mod)
        if mine is None:
            out.append(f"{path.relative_to(ROOT)}: {mod} is in no layer of tools/check_imports.py")
            continue
        for lineno, name in imports_of(path):
            if not (name == "machine" or name.startswith("machine.")):
                continue
            target = _target(name)
            theirs = layer_of(target)
            if target != "machine" and theirs is not None and theirs > mine:
                out.append(
                    f"{path.relative_to(ROOT)}:{lineno}: {mod} ({LAYERS[mine][0]}) must not "
                    f"import {target} ({LAYERS[theirs][0]})"
                )
        rules = [v for k, v in FORBIDDEN.items() if mod == k or mod.startswith(k + ".")]
        for lineno, name in imports_of(path):  # the finer rules
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
# error tree; shape: type checks of JSON values read from the store; store.files: atomic
# writes and private folders, for whatever writes a file with a key in it, ours or the
# docker CLI's).
LEAVES = ("machine.errors", "machine.shape", "machine.frozen", "machine.store.files")


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
