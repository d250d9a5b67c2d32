"""The kvm driver's libvirt XML, compared as XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from machine_driver_kvm import xml

SPEC = xml.DomainSpec(
    name="machine-dev",
    memory_mb=2048,
    cpus=2,
    accel="qemu",
    disk="/p/machine-dev.qcow2",
    seed="/p/machine-dev-seed.iso",
    network="default",
    mac="52:54:00:aa:bb:cc",
    console_log="/s/machines/dev/console.log",
    kernel="/p/kernel",
    initrd="/p/initrd",
    cmdline="root=/dev/vda rw console=ttyS0 quiet",
)


def test_domain_for_machine_os_on_a_nat_network() -> None:
    root = ET.fromstring(xml.domain(SPEC))
    assert root.get("type") == "qemu"
    assert root.findtext("name") == "machine-dev"
    assert root.find("memory").text == "2048" and root.find("memory").get("unit") == "MiB"  # type: ignore[union-attr]
    assert root.findtext("vcpu") == "2"
    assert root.findtext("os/kernel") == "/p/kernel"
    assert root.findtext("os/cmdline") == "root=/dev/vda rw console=ttyS0 quiet"
    assert root.find("os/boot") is None  # no bootloader: the kernel is booted directly
    disks = root.findall("devices/disk")
    assert [d.find("source").get("file") for d in disks] == [  # type: ignore[union-attr]
        "/p/machine-dev.qcow2",
        "/p/machine-dev-seed.iso",
    ]
    assert disks[1].find("readonly") is not None
    nic = root.find("devices/interface")
    assert nic is not None and nic.find("source").get("network") == "default"  # type: ignore[union-attr]
    assert nic.find("mac").get("address") == "52:54:00:aa:bb:cc"  # type: ignore[union-attr]
    assert root.find("cpu") is None  # host-passthrough only with KVM


def test_domain_for_a_cloud_image_with_user_networking() -> None:
    spec = xml.DomainSpec(
        **{
            **SPEC.__dict__,
            "network": "",
            "kernel": "",
            "initrd": "",
            "cmdline": "",
            "accel": "kvm",
            "forwards": ((2222, 22), (12376, 2376)),
        }
    )
    text = xml.domain(spec)
    root = ET.fromstring(text)
    assert root.find("os/boot").get("dev") == "hd"  # type: ignore[union-attr]
    assert root.find("cpu").get("mode") == "host-passthrough"  # type: ignore[union-attr]
    assert root.find("devices/interface") is None
    args = [a.get("value") for a in root.iter("{http://libvirt.org/schemas/domain/qemu/1.0}arg")]
    assert args[1] == (
        "user,id=machinenet0,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:12376-:2376"
    )
    assert args[3] == "virtio-net-pci,netdev=machinenet0,mac=52:54:00:aa:bb:cc,addr=0x9"


def test_names_are_escaped() -> None:
    spec = xml.DomainSpec(**{**SPEC.__dict__, "disk": "/p/a'b&c.qcow2"})
    root = ET.fromstring(xml.domain(spec))
    assert root.find("devices/disk/source").get("file") == "/p/a'b&c.qcow2"  # type: ignore[union-attr]


def test_network_pool_volume() -> None:
    net = ET.fromstring(xml.private_network())
    assert net.findtext("name") == "docker-machines"
    assert net.find("ip").get("address") == "192.168.42.1"  # type: ignore[union-attr]
    vol = ET.fromstring(xml.volume("v.qcow2", 10 << 30, "qcow2", "/p/base.qcow2"))
    assert vol.findtext("capacity") == str(10 << 30)
    assert vol.findtext("backingStore/path") == "/p/base.qcow2"
    assert ET.fromstring(xml.pool("machine", "/x")).findtext("target/path") == "/x"
    host = ET.fromstring(xml.dhcp_host("52:54:00:00:00:01", "10.0.0.9", "dev"))
    assert host.attrib == {"mac": "52:54:00:00:00:01", "name": "dev", "ip": "10.0.0.9"}


def test_the_reserved_address_of_a_mac() -> None:
    network = (
        "<network><name>n</name><ip address='10.0.0.1' netmask='255.255.255.0'><dhcp>"
        "<range start='10.0.0.2' end='10.0.0.254'/>"
        + xml.dhcp_host("52:54:00:00:00:01", "10.0.0.9", "dev")
        + "<host mac='52:54:00:00:00:02' ip='10.0.0.7'/>"
        "</dhcp></ip></network>"
    )
    assert xml.pinned_ip(network, "52:54:00:00:00:01") == "10.0.0.9"
    assert xml.pinned_ip(network, "52:54:00:00:00:02".upper()) == "10.0.0.7"
    assert xml.pinned_ip(network, "52:54:00:00:00:03") == ""


def test_a_session_uri_is_known_by_its_path_whatever_its_parameters() -> None:
    from machine_driver_kvm import is_session

    assert is_session("qemu:///session") and is_session("qemu+unix:///session?socket=/s")
    assert not is_session("qemu:///system")
    assert not is_session("qemu+unix:///system?socket=/run/session")


def test_a_killed_create_is_adopted_from_its_journal() -> None:
    """rm of a machine whose create was killed before its record was saved: the journal's
    entries give back the names remove() deletes (domain, volumes, the pinned lease)."""
    from machine_driver_kvm import Driver, KVMConfig

    driver = Driver(KVMConfig(MachineName="w1"))
    learned = driver.adopt([("volume", "machine-w1.qcow2"), ("volume", "machine-w1-seed.iso")])
    assert learned == {"DomainName": "machine-w1"}  # killed before the domain existed
    assert driver.learn(learned) and driver.config.DomainName == "machine-w1"
    driver.learn(
        driver.adopt([("domain", "machine-w1"), ("lease", "52:54:00:0a:0b:0c 192.168.42.7")])
    )
    assert (driver.config.MAC, driver.config.IPAddress) == ("52:54:00:0a:0b:0c", "192.168.42.7")
    saved = Driver(KVMConfig(MachineName="w2", DomainName="machine-w2", MAC="m", IPAddress="i"))
    assert not saved.adopt([("domain", "other"), ("lease", "x y")])  # the record's values win


def test_free_addresses_skip_reservations_and_leases() -> None:
    network = (
        "<network><name>n</name><ip address='10.0.0.1' netmask='255.255.255.0'><dhcp>"
        "<range start='10.0.0.2' end='10.0.0.6'/>"
        + xml.dhcp_host("52:54:00:00:00:01", "10.0.0.3", "dev")
        + xml.dhcp_host("52:54:00:00:00:02", "10.0.0.5", "")
        + "</dhcp></ip><ip family='ipv6' address='fd00::1' prefix='64'><dhcp>"
        "<range start='fd00::10' end='fd00::20'/></dhcp></ip></network>"
    )
    assert list(xml.free_addresses(network, {"10.0.0.2"})) == ["10.0.0.4", "10.0.0.6"]
    assert xml.reserved_addresses(network) == {"10.0.0.3", "10.0.0.5"}
    # an entry reserved without a host name (another store's machine had ours)
    assert "name=" not in xml.dhcp_host("52:54:00:00:00:02", "10.0.0.5", "")


def test_a_volumes_mtime_as_libvirt_reports_it() -> None:
    described = (
        "<volume type='file'><name>v</name><target><path>/p/v</path><timestamps>"
        "<atime>1796169832.396977712</atime><mtime>1796169832.396333714</mtime>"
        "</timestamps></target></volume>"
    )
    assert xml.volume_mtime(described) == "1796169832.396333714"
    assert xml.volume_mtime("<volume><name>v</name></volume>") == ""  # a pool that has none
