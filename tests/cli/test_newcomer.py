"""A newcomer's first `machine create dev` on a machine where libvirtd does not run, or runs
but machine-os is not built: the pre-create check says what to do (exit 3), nothing is made,
and nothing is left that needs `rm -f`."""

from __future__ import annotations

from tests.cli.conftest import NO_LIBVIRT, Sandbox


def _nothing_made(box: Sandbox) -> None:
    machines = box.store / "machines"
    assert not machines.exists() or not any(machines.iterdir())
    assert box.cli()("ls", "-q").stdout == ""


def test_no_libvirtd(sandbox: Sandbox) -> None:
    result = sandbox.cli()("create", "dev", check=False, KVM_CONNECTION_URI=NO_LIBVIRT)
    assert result.returncode == 3, result.stderr
    assert "cannot connect to libvirt" in result.stderr
    assert "libvirtd" in result.stderr and "qemu:///session" in result.stderr
    _nothing_made(sandbox)


def test_machine_os_not_built(sandbox: Sandbox) -> None:
    # libvirt's own test driver answers (in memory, with a "default" network): only the
    # image is missing
    result = sandbox.cli()("create", "dev", check=False, KVM_CONNECTION_URI="test:///default")
    assert result.returncode == 3, result.stderr
    assert "machine-os image is not built yet" in result.stderr
    assert "machine image build" in result.stderr
    _nothing_made(sandbox)


def test_no_default_network(sandbox: Sandbox) -> None:
    # libvirt's test driver with a host that has no network at all
    node = sandbox.root / "node.xml"
    node.write_text("<node></node>\n")
    result = sandbox.cli()("create", "dev", check=False, KVM_CONNECTION_URI=f"test://{node}")
    assert result.returncode == 3, result.stderr
    assert 'libvirt network "default" does not exist' in result.stderr
    assert "libvirt-daemon-config-network" in result.stderr
    assert "--kvm-network docker-machines" in result.stderr
    _nothing_made(sandbox)
