"""The virtualbox driver's parts that need no VirtualBox: VBoxManage's outputs of 5.2, 6.1 and
7.0 parsed (tests/fixtures/vboxmanage), a missing VBoxManage, and the host-only network
arithmetic. The adapter's rules run against stand-in programs in
tests/backend/test_vboxmanage.py; the driver against the VBoxManage simulator in
tests/e2e/test_virtualbox.py."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from machine.cli import createflags
from machine.errors import DriverError, PreCreateCheckFailed
from machine_driver_virtualbox import VirtualBoxConfig, hostonly, parse, vbm

FIXTURES = Path(__file__).parent.parent / "fixtures" / "vboxmanage"
RELEASES = ("5.2", "6.1", "7.0")


def fixture(release: str, name: str) -> str:
    return (FIXTURES / release / f"{name}.txt").read_text()


@pytest.mark.parametrize(
    ("release", "expected"), [("5.2", (5, 2, 44)), ("6.1", (6, 1, 50)), ("7.0", (7, 0, 20))]
)
def test_version(release: str, expected: tuple[int, int, int]) -> None:
    assert vbm.parse_version(fixture(release, "version")) == expected


def test_version_that_is_not_one() -> None:
    with pytest.raises(DriverError, match="not a version"):
        vbm.parse_version("VBoxManage: command not found")


@pytest.mark.parametrize("release", RELEASES)
def test_list_vms(release: str) -> None:
    listed = parse.vms(fixture(release, "vms"))
    assert listed == {
        "d2f1e5b4-9a7c-4c33-8c5e-0f5a2b7d11aa": "default",
        "5b1c2d3e-4f50-4a61-9b72-8c93d4e5f607": 'my "quoted" vm',
        "0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9": "web 1",
    }
    assert list(parse.vms(fixture(release, "runningvms")).values()) == ["default"]


def test_hostonlyifs_5_2_and_later() -> None:
    [old] = parse.hostonlyifs(fixture("5.2", "hostonlyifs"))
    assert old == parse.HostOnlyInterface(
        "vboxnet0", "192.168.99.1", "255.255.255.0", "HostInterfaceNetworking-vboxnet0"
    )
    for release in ("6.1", "7.0"):
        names = [(i.name, i.ip) for i in parse.hostonlyifs(fixture(release, "hostonlyifs"))]
        assert names == [("vboxnet0", "192.168.56.1"), ("vboxnet1", "192.168.59.1")]


def test_dhcpservers_5_2() -> None:
    [server] = parse.dhcpservers(fixture("5.2", "dhcpservers"))
    assert server == parse.DHCPServer(
        "HostInterfaceNetworking-vboxnet0",
        "192.168.99.6",
        "255.255.255.0",
        "192.168.99.100",
        "192.168.99.254",
        True,
        {},
    )


@pytest.mark.parametrize(("release", "mac"), [("6.1", "0800279db518"), ("7.0", "080027aabbcc")])
def test_dhcpservers_with_individual_configs(release: str, mac: str) -> None:
    servers = parse.dhcpservers(fixture(release, "dhcpservers"))
    assert [s.network for s in servers] == [
        "HostInterfaceNetworking-vboxnet0",
        "HostInterfaceNetworking-vboxnet1",
        "NatNetwork",
    ]
    plain, reserved, nat = servers
    assert (plain.ip, plain.lower, plain.upper, plain.fixed) == (
        "192.168.56.100",
        "192.168.56.101",
        "192.168.56.254",
        {},
    )
    # a per-MAC config is a reservation; a per-VM one ("VM default NIC 1") names no MAC
    assert reserved.fixed == {mac: "192.168.59.101"}
    assert nat.enabled and not nat.fixed


@pytest.mark.parametrize("release", RELEASES)
def test_showvminfo_machinereadable(release: str) -> None:
    info = parse.machinereadable(fixture(release, "showvminfo"))
    assert info["UUID"] == "d2f1e5b4-9a7c-4c33-8c5e-0f5a2b7d11aa"
    assert info["VMState"] == {"5.2": "saved", "6.1": "poweroff", "7.0": "running"}[release]
    assert info["memory"] == "1024"
    assert info["Forwarding(0)"] == "ssh,tcp,127.0.0.1,39353,,22"
    assert info["hostonlyadapter2"] == "vboxnet1" and info["macaddress2"] == "0800279DB518"
    assert info["description"] == 'a "quoted" note with a back\\slash'
    controller = "SATA Controller" if release == "6.1" else "SATA"
    assert info[f"{controller}-1-0"].endswith("/disk.vdi")


def test_created_names() -> None:
    out = "0%...100%\nInterface 'vboxnet3' was successfully created\n"
    assert parse.created_interface(out) == "vboxnet3"
    made = (
        "Virtual machine 'x' is created and registered.\n"
        "UUID: D2F1E5B4-9A7C-4C33-8C5E-0F5A2B7D11AA\nSettings file: '/x/x.vbox'\n"
    )
    assert parse.created_vm_uuid(made) == "d2f1e5b4-9a7c-4c33-8c5e-0f5a2b7d11aa"


# --- the adapter -------------------------------------------------------------------------------


def test_missing_vboxmanage(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("VBOX_INSTALL_PATH", raising=False)
    monkeypatch.delenv("VBOX_MSI_INSTALL_PATH", raising=False)
    with pytest.raises(DriverError, match=r"VBoxManage not found\. Make sure VirtualBox"):
        vbm.VBoxManage()


# --- flags and networks ----------------------------------------------------------------------


def test_no_dns_proxy_is_stored_as_docker_machine_did() -> None:
    """docker-machine stores DNSProxy: true unless --virtualbox-no-dns-proxy was given."""
    assert createflags.values(VirtualBoxConfig, {"drv_virtualbox_no_dns_proxy": False}) == {
        "DNSProxy": True
    }
    assert createflags.values(VirtualBoxConfig, {"drv_virtualbox_no_dns_proxy": True}) == {
        "DNSProxy": False
    }


def test_dhcp_ranges() -> None:
    assert hostonly.plan("192.168.59.1/24").dhcp_range() == (
        "192.168.59.100",
        "192.168.59.101",
        "192.168.59.254",
    )
    assert hostonly.plan("192.168.56.1/28").dhcp_range() == (
        "192.168.56.2",
        "192.168.56.3",
        "192.168.56.14",
    )


@pytest.mark.parametrize("cidr", ["192.168.59.0/24", "192.168.59.255/24", "10.0.0.1/30", "x"])
def test_cidrs_refused(cidr: str) -> None:
    with pytest.raises(PreCreateCheckFailed):
        hostonly.plan(cidr)


def test_allowed_ranges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostonly, "NETWORKS_CONF", tmp_path / "networks.conf")
    old = hostonly.plan("192.168.99.1/24")
    hostonly.check_allowed(old, (6, 1, 26))  # before 6.1.28 anything goes
    with pytest.raises(PreCreateCheckFailed) as refused:
        hostonly.check_allowed(old, (7, 0, 20))
    assert "* 192.168.99.0/24" in refused.value.hint
    hostonly.check_allowed(hostonly.plan(hostonly.DEFAULT_CIDR), (7, 0, 20))
    (tmp_path / "networks.conf").write_text("# ours\n* 10.0.0.0/8 192.168.0.0/16\n")
    hostonly.check_allowed(old, (7, 0, 20))
    assert ipaddress.ip_network("10.0.0.0/8") in hostonly.allowed_networks()
