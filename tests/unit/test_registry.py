"""Entry points read from distributions' metadata, as importlib.metadata would find them."""

from __future__ import annotations

from pathlib import Path

import pytest

from machine import errors
from machine.registry import Registry, read_entry_points


def dist(root: Path, name: str, text: str) -> None:
    d = root / f"{name}.dist-info"
    d.mkdir(parents=True)
    (d / "entry_points.txt").write_text(text)


def test_reads_group_first_distribution_wins(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    dist(a, "one-1.0", "[console_scripts]\nx = y:z\n\n[machine.drivers]\nkvm = pkg_a:Driver\n")
    dist(b, "two-1.0", "[machine.drivers]\nkvm = pkg_b:Driver\naws = pkg_b.ec2 : Driver\n")
    found = read_entry_points("machine.drivers", [str(a), str(b), str(tmp_path / "missing")])
    assert {n: e.value for n, e in found.items()} == {
        "kvm": "pkg_a:Driver",
        "aws": "pkg_b.ec2 : Driver",
    }


def test_bundled_drivers_are_found() -> None:
    assert {"none", "generic"} <= set(Registry().names())


def test_unknown_driver_names_installed_ones() -> None:
    with pytest.raises(errors.DriverNotFound) as info:
        Registry().get("nosuch")
    assert "generic" in info.value.message and "none" in info.value.message
