"""Fixtures for end-to-end tests: test hosts, an SSH key, a private store, the CLI."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from machine.tls import certs
from testbed import images as test_images
from testbed import libvirt as libvirt_host
from testbed.hosts import TestHost, busybox_tarball, prerequisites_missing
from tests.machinecli import CLI

__all__ = ["CLI"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def _prereqs() -> None:
    missing = prerequisites_missing()
    if missing:
        why = f"e2e tests need {', '.join(missing)} (tools/setup installs them)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    private, public = certs.ssh_keypair()
    path = tmp_path_factory.mktemp("key") / "id_ed25519"
    path.write_bytes(private)
    path.chmod(0o600)
    path.with_suffix(".pub").write_text(public + "\n")
    return path, public


@pytest.fixture(scope="session")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return busybox_tarball(tmp_path_factory.mktemp("img"))


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    return CLI(tmp_path / "store")


_next_index = iter(range(11, 250))


@pytest.fixture
def host_factory(_prereqs: None, ssh_key: tuple[Path, str]) -> Iterator[object]:
    made: list[TestHost] = []

    def make(variant: str = "docker") -> TestHost:
        index = next(_next_index)
        host = TestHost(name=f"mt-host{index}", index=index, variant=variant)
        made.append(host)
        host.boot(ssh_key[1])
        return host

    yield make
    for host in made:
        host.cleanup()


@pytest.fixture(scope="module")
def libvirt(_prereqs: None) -> Iterator[None]:
    for tool in ("libvirtd", "virsh", "qemu-system-x86_64", "mmdebstrap"):
        if shutil.which(tool) is None:
            why = f"kvm tests need {tool} (tools/setup installs it)"
            if os.environ.get("CI"):
                pytest.fail(why)
            pytest.skip(why)
    libvirt_host.start()
    yield
    libvirt_host.stop()


@pytest.fixture(scope="module")
def machine_os(libvirt: None) -> Path:
    """machine-os, built once into a cache shared by the tests' stores (content-addressed)."""
    manifest = test_images.built()
    # base volumes of earlier builds would pile up in libvirt's pool (650 MB each)
    current = {str(manifest[k]).replace(":", "-") for k in ("disk", "kernel", "initrd")}
    for line in libvirt_host.virsh("vol-list", "machine", check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(("base-", "kernel-", "initrd-")) and not any(
            digest in name for digest in current
        ):
            libvirt_host.virsh("vol-delete", name, "--pool", "machine", check=False)
    return test_images.IMAGE_CACHE
