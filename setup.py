"""The drivers under drivers/ are part of the machine distribution: each folder's pyproject.toml
(its package, its `machine.drivers` entry points, its SDK dependencies) is read here, so that a
plain `pip install .` brings every bundled driver, and `machine[EXTRA]` brings a driver's SDK
(EXTRA: the folder's `[tool.machine] extra`, else its name; `machine[all]`: every SDK).

Adding a driver is adding its folder: nothing here or in pyproject.toml names one.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent
# what the test suite and the static checks need (tools/setup installs `.[dev,all]`)
DEV = [
    "pytest>=8",
    "mypy>=1.10",
    "ruff>=0.6",
    "types-paramiko",
    "docker>=7",
    "moto[server,ec2,ssm]>=5",
    "typing_extensions>=4.6",
]


def bundled_drivers() -> tuple[dict[str, str], list[str], dict[str, list[str]]]:
    """(package -> folder, entry points, extra -> SDK requirements) of drivers/*."""
    package_dir: dict[str, str] = {}
    entry_points: list[str] = []
    extras: dict[str, list[str]] = {}
    for pyproject in sorted(ROOT.glob("drivers/*/pyproject.toml")):
        meta = tomllib.loads(pyproject.read_text())
        project, folder = meta["project"], pyproject.parent
        for package in meta["tool"]["setuptools"]["packages"]:
            package_dir[package] = (folder / package).relative_to(ROOT).as_posix()
        for name, target in project.get("entry-points", {}).get("machine.drivers", {}).items():
            entry_points.append(f"{name} = {target}")
        sdk = [d for d in project.get("dependencies", []) if _name(d) != "machine"]
        if sdk:
            extra = meta.get("tool", {}).get("machine", {}).get("extra", folder.name)
            extras.setdefault(extra, []).extend(sdk)
    return package_dir, entry_points, extras


def _name(requirement: str) -> str:
    for i, c in enumerate(requirement):
        if not (c.isalnum() or c in "-_."):
            return requirement[:i].lower()
    return requirement.lower()


package_dir, driver_entry_points, extras = bundled_drivers()
extras["all"] = sorted({r for sdk in extras.values() for r in sdk})
extras["dev"] = DEV
setup(
    # machine/images/data (a link to images/: the catalog and the machine-os recipe) is data only
    packages=[
        *find_packages(include=["machine", "machine.*"]),
        "machine.images.data",
        *package_dir,
    ],
    package_dir=package_dir,
    package_data={
        "machine": ["py.typed"],
        "machine.images.data": ["*.json", "machine-os/*"],
        **{package: ["py.typed"] for package in package_dir},
    },
    entry_points={
        "console_scripts": ["machine = machine.cli.fast:main"],
        "machine.drivers": driver_entry_points,
    },
    extras_require=extras,
)
