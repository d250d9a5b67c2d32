"""The kvm driver against libvirt's own tools and its test:/// driver (no VM is run)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from machine.driver import State
from machine_driver_kvm import Driver, KVMConfig, xml
from tests.unit.test_kvm_xml import SPEC

pytestmark = pytest.mark.backend


def missing(what: str) -> None:
    """Outside CI a missing backend skips (saying why); in CI it fails."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not installed (tools/setup installs it)")
    pytest.skip(f"{what} is not installed (tools/setup installs it)")


def test_generated_xml_is_valid_for_libvirt(tmp_path: Path) -> None:
    if shutil.which("virt-xml-validate") is None or shutil.which("xmllint") is None:
        missing("virt-xml-validate and xmllint (libvirt-clients, libxml2-utils)")
    documents = {
        "domain": xml.domain(SPEC),
        "session-domain": xml.domain(
            xml.DomainSpec(**{**SPEC.__dict__, "network": "", "forwards": ((2222, 22),)})
        ),
        "network": xml.private_network(),
        "pool": xml.pool("machine", "/var/lib/libvirt/images/machine"),
        "vol": xml.volume("v.qcow2", 1 << 30, "qcow2", "/p/base.qcow2"),
    }
    schemas = {"session-domain": "domain", "pool": "storagepool", "vol": "storagevol"}
    for name, text in documents.items():
        path = tmp_path / f"{name}.xml"
        path.write_text(text)
        result = subprocess.run(
            ["virt-xml-validate", str(path), schemas.get(name, name)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, (name, result.stderr)


def test_states_in_one_listing(tmp_path: Path) -> None:
    try:
        import libvirt  # noqa: F401
    except ImportError:
        missing("libvirt-python")

    def driver(domain: str) -> Driver:
        return Driver(
            KVMConfig(connectionString="test:///default", DomainName=domain, MachineName=domain)
        )

    running, gone = driver("test"), driver("machine-gone")
    assert Driver.states([running, gone]) == [State.RUNNING, State.NOT_FOUND]
    gone.remove()  # removing what is not there is success
