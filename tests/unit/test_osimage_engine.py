"""What a built image records about the engine it ships, and how a boot image carries it."""

from __future__ import annotations

import json
from pathlib import Path

from machine.images import osimage
from machine.images.cache import Cache

UNIT = "[Service]\nExecStart=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS\n"


def _root(tmp_path: Path, *, seed_step: bool = True, dockerd: bool = True) -> Path:
    root = tmp_path / "root"
    (root / "usr/lib/systemd/system").mkdir(parents=True)
    (root / "usr/lib/systemd/system/docker.service").write_text(UNIT)
    (root / "usr/sbin").mkdir(parents=True)
    if dockerd:
        (root / "usr/sbin/dockerd").write_bytes(b"")
    if seed_step:
        (root / "usr/local/sbin").mkdir(parents=True)
        (root / osimage.SEED_STEP).write_text("#!/bin/sh\n")
    return root


def test_machine_os_records_its_engine(tmp_path: Path) -> None:
    assert osimage.shipped_engine(_root(tmp_path)) == {
        "dockerd": "/usr/sbin/dockerd",
        "dockerd_unit": UNIT,
    }


def test_no_engine_or_no_seed_step_records_nothing(tmp_path: Path) -> None:
    # a cloud-init image applies its seed at every boot: its engine is not seeded
    assert osimage.shipped_engine(_root(tmp_path / "a", seed_step=False)) == {}
    assert osimage.shipped_engine(_root(tmp_path / "b", dockerd=False)) == {}


def test_a_boot_image_carries_the_engine_of_its_manifest(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    disk = tmp_path / "disk.qcow2"
    disk.write_bytes(b"disk")
    manifest = {"name": "machine-os", "disk": str(cache.add_file(disk)), "format": "qcow2"}
    cache.save_manifest("machine-os", {**manifest, "dockerd": "/usr/sbin/dockerd",
                                       "dockerd_unit": UNIT, "recipe": "r"})  # fmt: skip
    image = cache.resolve("machine-os")
    assert (image.dockerd, image.dockerd_unit) == ("/usr/sbin/dockerd", UNIT)
    # a build from before images noted their engine: nothing is seeded, provisioning does all
    cache.save_manifest("machine-os", {**manifest, "recipe": "r"})
    assert cache.resolve("machine-os").dockerd == ""
    assert json.loads((cache.manifests / "machine-os.json").read_text())["format"] == "qcow2"
