"""Base images in libvirt's pool are uploaded once, however many creates start at once, and an
upload a killed create left half done is never booted (a real libvirtd; no VM is run)."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from machine_driver_kvm import virt as virt_module
from machine_driver_kvm.virt import PARTIAL, Virt
from testbed import libvirt as libvirt_host

SIZE = 24 << 20  # several upload chunks, so the uploads overlap


def deadline() -> float:
    return time.monotonic() + 300  # generous: a loaded host writes slowly


def _image(tmp_path: Path) -> Path:
    path = tmp_path / "disk.img"
    path.write_bytes(os.urandom(SIZE))
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _names() -> set[str]:
    listing = libvirt_host.virsh("vol-list", "machine")
    return {line.split()[0] for line in listing.splitlines()[2:] if line.strip()}


@pytest.fixture
def volume_name(libvirt: None) -> Iterator[str]:
    name = f"base-test-{secrets.token_hex(4)}.raw"
    yield name
    for made in (name, name + PARTIAL):  # only what this test made
        libvirt_host.virsh("vol-delete", made, "--pool", "machine", check=False)


def test_parallel_uploads_of_one_image_make_one_volume(tmp_path: Path, volume_name: str) -> None:
    image = _image(tmp_path)
    paths: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def create() -> None:
        virt = Virt(libvirt_host.URI)  # a connection each, as separate processes have
        try:
            start.wait()
            paths.append(virt.upload_file(volume_name, image, "raw", deadline()))
        except BaseException as exc:
            errors.append(exc)
        finally:
            virt.close()

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(set(paths)) == 1 and len(paths) == 4
    assert volume_name in _names() and volume_name + PARTIAL not in _names()
    assert _digest(libvirt_host.host_path(paths[0])) == _digest(image)


def test_an_upload_left_by_a_killed_create_is_made_again(
    tmp_path: Path, volume_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = _image(tmp_path)
    half = tmp_path / "half.img"
    half.write_bytes(image.read_bytes()[: SIZE // 2])
    # what a create killed mid-upload leaves: the marker, and the volume half written
    virt = Virt(libvirt_host.URI)
    try:
        assert virt._create_volume(volume_name + PARTIAL, 0, "raw") is not None
        virt._upload(volume_name, half, "raw")
        monkeypatch.setattr(virt_module, "STALE_UPLOAD", 3.0)
        path = virt.upload_file(volume_name, image, "raw", deadline())
    finally:
        virt.close()
    assert volume_name + PARTIAL not in _names()
    assert _digest(libvirt_host.host_path(path)) == _digest(image)


def test_a_complete_volume_is_reused(tmp_path: Path, volume_name: str) -> None:
    image = _image(tmp_path)
    virt = Virt(libvirt_host.URI)
    try:
        first = virt.upload_file(volume_name, image, "raw", deadline())
        image.write_bytes(b"changed")  # not read again: the volume of that name is kept
        assert virt.upload_file(volume_name, image, "raw", deadline()) == first
    finally:
        virt.close()
    assert libvirt_host.host_path(first).stat().st_size == SIZE
