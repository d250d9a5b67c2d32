"""The vmwarevsphere driver against vcsim (a simulator of the vSphere API, built here: see
testbed/vcsim.py), with VMs run as containers of a private dockerd. What vcsim does not prove:
that ESXi boots the imported disk (the firmware-boot tests of machine-os do)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from machine.driver import BootImage, CreateRequest, PreCreateCheckFailed, State

pytestmark = pytest.mark.backend

pyVmomi = pytest.importorskip("pyVmomi")

from machine_driver_vmwarevsphere import Driver, VSphereConfig, connection  # noqa: E402
from testbed.vcsim import BUSYBOX_IMAGE, guest  # noqa: E402
from tests.machinecli import CLI  # noqa: E402
from tests.vsphere import create_args, dm_record  # noqa: E402


@pytest.fixture(scope="module")
def docker_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from testbed import vcsim

    for tool in ("go", "dockerd", "docker"):
        if shutil.which(tool) is None:
            why = f"vSphere tests need {tool} (tools/setup installs it)"
            if os.environ.get("CI"):
                pytest.fail(why)
            pytest.skip(why)
    with vcsim.dockerd(tmp_path_factory.mktemp("docker")) as host:
        yield host


@pytest.fixture(scope="module")
def vcenter(tmp_path_factory: pytest.TempPathFactory, docker_host: str) -> Iterator[Any]:
    from testbed import vcsim

    with vcsim.running(tmp_path_factory.mktemp("vcsim"), docker_host=docker_host) as ep:
        yield ep


@pytest.fixture(autouse=True)
def _fresh_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "_sessions", {})  # each test logs in itself
    monkeypatch.delenv("VSPHERE_PASSWORD", raising=False)


def _config(ep: Any, name: str, store: Path, **values: Any) -> VSphereConfig:
    values.setdefault("Thumbprint", ep.thumbprint)
    values.setdefault("Password", ep.password)
    values.setdefault("CfgParams", (guest(BUSYBOX_IMAGE, "sleep", "3600"),))
    return VSphereConfig(
        IP=ep.host,
        Port=ep.port,
        Username=ep.user,
        MachineName=name,
        StorePath=str(store),
        **values,
    )


def _ova(tmp: Path) -> BootImage:
    from machine.images import imageformats

    raw = tmp / "disk.raw"
    with open(raw, "wb") as f:
        f.truncate(64 << 20)
    vmdk, ova = tmp / "disk.vmdk", tmp / "disk.ova"
    imageformats.convert_disk(raw, "vmdk", vmdk)
    imageformats.write_ova(vmdk, 64 << 20, imageformats.Hardware(name="machine-os"), ova)
    return BootImage("machine-os", ova, "ova", "docker")


def _create(driver: Driver, tmp: Path, image: BootImage | None) -> list[tuple[str, str]]:
    recorded: list[tuple[str, str]] = []
    mdir = tmp / "machines" / driver.config.MachineName
    mdir.mkdir(parents=True, exist_ok=True)
    driver.learn(driver.pre_create_check())
    request = CreateRequest(
        mdir,
        mdir / "id_rsa",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummyKeyForTheSeedOnly test",
        2376,
        record=lambda kind, ident: recorded.append((kind, ident)),
        image=image,
        store_id="store-1",
    )
    driver.learn(driver.create(request))
    return recorded


def test_the_certificate_is_verified(vcenter: Any, tmp_path: Path) -> None:
    """No CA vouches for vcsim's certificate: refused, with its SHA-256 to pin; a pin, the CA
    file or an explicit --vmwarevsphere-insecure let the session in; a wrong pin is refused."""
    ep = vcenter
    plain = Driver(_config(ep, "c", tmp_path, Thumbprint=""))
    with pytest.raises(PreCreateCheckFailed) as refused:
        plain.pre_create_check()
    assert "not trusted" in refused.value.message
    colons = ":".join(ep.thumbprint[i : i + 2] for i in range(0, 64, 2)).upper()
    assert colons in refused.value.hint  # what to pin, once checked

    for values in ({"Thumbprint": colons}, {"Thumbprint": "", "CACert": str(ep.ca_file)}):
        connection._sessions.clear()
        assert Driver(_config(ep, "c", tmp_path, **values)).pre_create_check()["Datacenter"]
    connection._sessions.clear()
    insecure = Driver(_config(ep, "c", tmp_path, Thumbprint="", Insecure=True))
    assert insecure.pre_create_check()["Datastore"] == "LocalDS_0"

    connection._sessions.clear()
    wrong = Driver(_config(ep, "c", tmp_path, Thumbprint="ab" * 32))
    with pytest.raises(PreCreateCheckFailed, match="not the pinned one"):
        wrong.pre_create_check()
    with pytest.raises(PreCreateCheckFailed, match="SHA-1"):
        Driver(_config(ep, "c", tmp_path, Thumbprint="ab" * 20)).pre_create_check()


def test_a_wrong_password_is_named_and_none_is_asked_for(vcenter: Any, tmp_path: Path) -> None:
    with pytest.raises(PreCreateCheckFailed, match="refused the login"):
        Driver(_config(vcenter, "c", tmp_path, Password="nope")).pre_create_check()
    with pytest.raises(PreCreateCheckFailed, match="password is needed") as info:
        Driver(_config(vcenter, "c", tmp_path, Password="")).pre_create_check()
    assert "VSPHERE_PASSWORD" in info.value.hint


def test_create_imports_the_ova_and_nothing_stores_the_password(
    vcenter: Any, tmp_path: Path
) -> None:
    driver = Driver(_config(vcenter, "imp1", tmp_path, Networks=("VM Network", "DC0_DVPG0")))
    recorded = _create(driver, tmp_path, _ova(tmp_path))
    cfg = driver.config
    si = driver._si()
    vm = si.content.searchIndex.FindByUuid(None, cfg.MachineId, True, False)
    nics = [d for d in vm.config.hardware.device if hasattr(d, "macAddress")]
    backings = [type(n.backing).__name__ for n in nics]
    assert len(nics) == 2 and "DistributedVirtualPortBackingInfo" in backings[1], backings
    assert recorded == [("vm", cfg.MachineId)] and cfg.MachineId
    assert cfg.IPAddress.startswith("10.234.0.")  # the container's, as the guest's tools say
    saved = driver.to_json()
    assert "Password" not in saved and vcenter.password not in json.dumps(saved)
    assert (saved["Datacenter"], saved["Datastore"], saved["Networks"]) == (
        "DC0",
        "LocalDS_0",
        ["VM Network", "DC0_DVPG0"],
    )

    # a later command: the record, and the password from the environment
    os.environ["VSPHERE_PASSWORD"] = vcenter.password
    try:
        again = Driver.from_json(saved)
        assert again.state() is State.RUNNING
        again.stop()
        assert again.state() is State.STOPPED
        assert again.learn(again.start()) is False  # the same address
        assert vcenter.files_of("imp1")  # the VM's folder on the datastore
        again.remove()
        assert again.state() is State.NOT_FOUND
        assert vcenter.files_of("imp1") == []  # nothing of it is left on the datastore
    finally:
        del os.environ["VSPHERE_PASSWORD"]


def test_clone_from_a_template(vcenter: Any, tmp_path: Path) -> None:
    from machine_driver_vmwarevsphere import inventory

    base = Driver(_config(vcenter, "tpl-src", tmp_path))
    _create(base, tmp_path, _ova(tmp_path))
    si = base._si()
    source = inventory.find_vm(si, base._datacenter(si), base.config.MachineId)
    assert source is not None
    source.PowerOffVM_Task()
    source.MarkAsTemplate()

    clone = Driver(
        _config(
            vcenter,
            "cl1",
            tmp_path,
            CreationType="template",
            CloneFrom="tpl-src",
            CPU=3,
            Memory=3072,
            DiskSize=30720,
        )
    )
    _create(clone, tmp_path, None)
    assert clone.config.MachineId not in ("", base.config.MachineId)
    made = inventory.find_vm(si, base._datacenter(si), clone.config.MachineId)
    assert made is not None and (made.config.hardware.numCPU, made.config.hardware.memoryMB) == (
        3,
        3072,
    )  # resized on clone
    disks = [d for d in made.config.hardware.device if hasattr(d, "capacityInKB")]
    assert disks and disks[0].capacityInKB == 30720 * 1024
    assert clone.state() is State.RUNNING and clone.config.IPAddress.startswith("10.234.0.")
    clone.remove()
    source.MarkAsVirtualMachine(pool=inventory.place(si, "", "", "", "", "", []).pool)
    base.remove()
    with pytest.raises(PreCreateCheckFailed, match="no VM or template"):
        Driver(
            _config(vcenter, "cl2", tmp_path, CreationType="template", CloneFrom="tpl-src")
        ).pre_create_check()


def test_remove_leaves_a_vm_with_another_uuid_alone(vcenter: Any, tmp_path: Path) -> None:
    driver = Driver(_config(vcenter, "uu1", tmp_path))
    _create(driver, tmp_path, _ova(tmp_path))
    other = Driver(
        _config(vcenter, "uu1", tmp_path, MachineId="4210ffff-0000-0000-0000-000000000000")
    )
    other.remove()  # its VM is gone (no such UUID): success, and nothing else touched
    assert driver.state() is State.RUNNING
    driver.remove()


def test_esx_defaults(tmp_path: Path, docker_host: str) -> None:
    """A standalone ESXi host: one datacenter, the host's pool, the first datastore."""
    from testbed import vcsim

    with vcsim.running(tmp_path / "esx", esx=True, docker_host=docker_host) as ep:
        driver = Driver(_config(ep, "esx1", tmp_path))
        assert driver.pre_create_check() == {
            "Datacenter": "ha-datacenter",
            "Datastore": "LocalDS_0",
            "Networks": ("VM Network",),
        }
        with pytest.raises(PreCreateCheckFailed, match="datastore 'nope' not found"):
            Driver(_config(ep, "esx1", tmp_path, Datastore="nope")).pre_create_check()
        with pytest.raises(PreCreateCheckFailed, match="must exist"):
            Driver(_config(ep, "esx1", tmp_path, Folder="nope")).pre_create_check()
        # and a machine made on it, as on a vCenter (no folders, the host's own pool)
        driver = Driver(_config(ep, "esx2", tmp_path))
        _create(driver, tmp_path, _ova(tmp_path))
        assert driver.state() is State.RUNNING and driver.config.IPAddress.startswith("10.234.")
        driver.remove()
        assert driver.state() is State.NOT_FOUND and ep.files_of("esx2") == []


def _dm_store(vcenter: Any, tmp_path: Path, names: list[str]) -> tuple[Path, list[Driver]]:
    """A docker-machine store whose vSphere machines (tests/fixtures/dm-store's dm-vsphere, with
    docker-machine's fields, its password stored, no UUID) have VMs on vcsim."""
    from tests.storefixture import make_dm_store

    store = make_dm_store(tmp_path / "dm", vcenter=vcenter.host)
    vms = []
    for name in names:
        vm = Driver(_config(vcenter, name, tmp_path))  # the VM docker-machine made
        _create(vm, tmp_path, _ova(tmp_path))
        vms.append(vm)
        ip = vm.config.IPAddress
        dm_record(store, name, vcenter, Datacenter="DC0", Datastore="LocalDS_0", IPAddress=ip)
    return store, vms


def _logins(driver: Driver) -> int:
    """How many sessions vcsim has opened so far (its UserLoginSessionEvents)."""
    from machine_driver_vmwarevsphere import sdk

    si = driver._si()
    vim = sdk.vim()
    spec = vim.event.EventFilterSpec(eventTypeId=["UserLoginSessionEvent"])
    return len(si.content.eventManager.QueryEvents(spec))


def test_a_docker_machine_vsphere_machine_lists_stops_and_goes(
    vcenter: Any, tmp_path: Path
) -> None:
    """Found by name (no UUID in its record), verified by $VSPHERE_THUMBPRINT, its stored
    password used and kept as it was; `ls` of several machines opens one session."""
    names = ["dm-vsphere", "dm-vs2", "dm-vs3"]
    store, vms = _dm_store(vcenter, tmp_path, names)
    cli = CLI(store)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        # docker-machine's records hold no pin: the variable gives it
        return cli(*args, check=False, timeout=120, VSPHERE_THUMBPRINT=vcenter.thumbprint)

    config_path = store / "machines" / "dm-vsphere" / "config.json"

    before = _logins(vms[0])
    listed = run("ls")
    assert _logins(vms[0]) == before + 1  # one session for all three machines
    rows = {r.split()[0]: r.split() for r in listed.stdout.splitlines()[1:]}
    for name in names:
        assert rows[name][2:4] == ["vmwarevsphere", "Running"], listed.stdout
    assert run("status", "dm-vsphere").stdout.strip() == "Running"
    stopped = run("stop", "dm-vsphere")
    assert stopped.returncode == 0, stopped.stderr
    assert run("status", "dm-vsphere").stdout.strip() == "Stopped"
    saved = json.loads(config_path.read_text())["Driver"]
    assert saved["Password"] == vcenter.password  # docker-machine's, kept as it was
    # started again by the driver (the CLI would then wait for an engine busybox lacks)
    os.environ["VSPHERE_THUMBPRINT"] = vcenter.thumbprint
    try:
        restarted = Driver.from_json(json.loads(config_path.read_text())["Driver"])
        assert restarted.start() == {"IPAddress": vms[0].config.IPAddress}
    finally:
        del os.environ["VSPHERE_THUMBPRINT"]
    killed = run("kill", "dm-vs2")
    assert killed.returncode == 0, killed.stderr
    assert vms[1].state() is State.STOPPED
    for name, vm in zip(names, vms, strict=True):
        removed = run("rm", "-y", name)
        assert removed.returncode == 0, removed.stderr
        assert vm.state() is State.NOT_FOUND
        assert not (store / "machines" / name).exists()


def test_orphans_are_the_store_s_vms_no_machine_has(vcenter: Any, tmp_path: Path) -> None:
    kept = Driver(_config(vcenter, "or1", tmp_path))
    _create(kept, tmp_path, _ova(tmp_path))
    lost = Driver(_config(vcenter, "or2", tmp_path))
    _create(lost, tmp_path, _ova(tmp_path))  # its record is lost: only the VM's tags remain
    os.environ["VSPHERE_PASSWORD"] = vcenter.password  # records hold no password
    try:
        found = Driver.orphans([Driver.from_json(kept.to_json())], "store-1")
        assert [(o.kind, o.id, o.name) for o in found] == [("vm", lost.config.MachineId, "or2")]
        assert Driver.orphans([kept], "another-store") == []
        Driver.remove_orphan(found[0])
        assert lost.state() is State.NOT_FOUND and kept.state() is State.RUNNING
        assert Driver.orphans([kept], "store-1") == []
    finally:
        del os.environ["VSPHERE_PASSWORD"]
    kept.remove()


def test_a_failed_create_leaves_nothing_whichever_call_fails(vcenter: Any, tmp_path: Path) -> None:
    """Through a proxy that fails one vSphere call at a time (each SOAP method a create makes,
    and the disk upload), a create fails with a plain message, and afterwards (`rm -f` when its
    own rollback was what failed) vcsim holds no VM and no file of the machine."""
    from tests import vsphere as proxying

    ova = _ova(tmp_path).disk
    with proxying.proxied(vcenter, tmp_path / "proxy") as proxy:
        ep = proxy.endpoint
        store = tmp_path / "store"
        cli = CLI(store)

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return cli(*args, check=False, timeout=300, VSPHERE_PASSWORD=ep.password)

        def create(name: str) -> subprocess.CompletedProcess[str]:
            return run(
                *create_args(ep),
                *("--vmwarevsphere-boot2docker-url", str(ova)),
                *("--vmwarevsphere-cfgparam", guest(BUSYBOX_IMAGE, "sleep", "3600")),
                *("--wait-timeout", "5"),  # busybox has no sshd: provisioning fails there
                name,
            )

        def nothing_left(name: str) -> None:
            if (store / "machines" / name).exists():
                assert run("rm", "-f", name).returncode == 0
            assert not (store / "machines" / name).exists()
            assert vcenter.files_of(name) == [], name
            driver = Driver(_config(vcenter, name, tmp_path))
            si = driver._si()
            assert si.content.searchIndex.FindChild(driver._datacenter(si).vmFolder, name) is None

        baseline = create("ff0")
        assert baseline.returncode == 1 and "Error creating machine" in baseline.stderr
        nothing_left("ff0")
        methods = list(dict.fromkeys(proxy.calls))  # in order of first use
        assert {"ImportVApp", "PUT", "ReconfigVM_Task", "PowerOnVM_Task"} <= set(methods)
        assert {"Destroy_Task"} <= set(methods)  # the rollback's

        # a slow vCenter: every answer to the import late, and the create still succeeds
        # as far as the driver goes (it fails at SSH: busybox)
        proxy.reset()
        proxy.fail("ImportVApp", "hang", hang=3.0)
        proxy.fail("PowerOnVM_Task", "hang", hang=3.0)
        slow = create("ffslow")
        assert "Creating machine" in slow.stderr and "Waiting for SSH" in slow.stderr, slow.stderr
        nothing_left("ffslow")

        for index, method in enumerate(methods):
            name = f"ff{index + 1}"
            proxy.reset()
            proxy.fail(method, "drop" if method in ("ImportVApp", "PUT") else "fault")
            failed = create(name)
            assert failed.returncode in (1, 3), (method, failed.stderr)
            assert "Traceback" not in failed.stderr and "dynamicType" not in failed.stderr
            nothing_left(name)


def test_ls_of_fifty_machines_is_one_property_collection(vcenter: Any, tmp_path: Path) -> None:
    """50 vSphere machines of one vCenter: `ls` logs in once and asks for every VM's power
    state in one RetrievePropertiesEx (docker-machine logged in and out per machine)."""
    from tests import vsphere as proxying

    with proxying.proxied(vcenter, tmp_path / "proxy") as proxy:
        store = tmp_path / "dm"
        proxying.machine_records(store, vcenter, 50, port=proxy.endpoint.port)
        proxy.reset()
        listed = CLI(store)("ls", check=False, VSPHERE_THUMBPRINT=proxy.endpoint.thumbprint)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert len(rows) == 50 and all(r[2:4] == ["vmwarevsphere", "Stopped"] for r in rows), rows
    # one session (login, one collection over a container view, logout) for all fifty
    assert proxy.calls.count("Login") == 1, proxy.calls
    assert proxy.calls.count("RetrievePropertiesEx") == 1, proxy.calls
    assert proxy.calls.count("Logout") == 1, proxy.calls


def test_a_killed_create_is_removed_by_rm(vcenter: Any, tmp_path: Path) -> None:
    """SIGKILL right after the disk upload: the VM exists, the record knows nothing of it
    (create never returned), the journal does; `rm` adopts it and destroys it."""
    import sys

    root = Path(__file__).resolve().parents[2]
    cli = CLI(tmp_path / "store")
    env = cli.env(VSPHERE_PASSWORD=vcenter.password)
    killed = subprocess.run(
        [
            *(sys.executable, "-m", "tests.killpoint", *create_args(vcenter)),
            *("--vmwarevsphere-boot2docker-url", str(_ova(tmp_path).disk)),
            "kill1",
        ],
        capture_output=True,
        text=True,
        env={
            **env,
            "PYTHONPATH": str(root),
            "MACHINE_TEST_KILL_AT": "machine_driver_vmwarevsphere.importer:_upload:after",
        },
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr
    assert vcenter.files_of("kill1")  # the VM was made
    record = json.loads((cli.store / "machines/kill1/config.json").read_text())
    assert not record["Driver"]["MachineId"]  # learned, never returned

    listed = cli("ls", VSPHERE_PASSWORD=vcenter.password)
    assert "rm -y kill1" in listed.stdout, listed.stdout
    cli("rm", "-y", "kill1", VSPHERE_PASSWORD=vcenter.password)  # checks it exits 0
    assert vcenter.files_of("kill1") == []
    assert not (cli.store / "machines/kill1").exists()


def test_a_vmdk_is_converted_once_to_an_ova_and_imported(vcenter: Any, tmp_path: Path) -> None:
    """Any VMDK (a URL or a file) boots too: the core wraps it in an OVA once, and caches it."""
    vmdk = _ova(tmp_path).disk.with_suffix(".vmdk")  # the stream VMDK _ova made beside it
    cli = CLI(tmp_path / "store")
    argv = [
        *create_args(vcenter),
        *("--vmwarevsphere-boot2docker-url", str(vmdk)),
        *("--vmwarevsphere-cfgparam", guest(BUSYBOX_IMAGE, "sleep", "3600")),
        *("--wait-timeout", "5"),  # busybox has no sshd: the create stops there
    ]
    first = cli(*argv, "vm1", check=False, timeout=300, VSPHERE_PASSWORD=vcenter.password)
    assert "Converting" in first.stderr and "Waiting for SSH" in first.stderr, first.stderr
    again = cli(*argv, "vm2", check=False, timeout=300, VSPHERE_PASSWORD=vcenter.password)
    assert "Converting" not in again.stderr and "Waiting for SSH" in again.stderr, again.stderr
    assert vcenter.files_of("vm1") == vcenter.files_of("vm2") == []  # both rolled back


def test_placement_by_folder_host_and_pool(vcenter: Any, tmp_path: Path) -> None:
    """--vmwarevsphere-folder (it must exist), -hostsystem and -pool place the VM there."""
    probe = Driver(_config(vcenter, "pl0", tmp_path))
    si = probe._si()
    dc = probe._datacenter(si)
    if si.content.searchIndex.FindChild(dc.vmFolder, "team") is None:
        dc.vmFolder.CreateFolder("team")
    driver = Driver(
        _config(
            vcenter,
            "pl1",
            tmp_path,
            Folder="team",
            HostSystem="DC0_C0_H1",
            Pool="DC0_C0/Resources",
        )
    )
    _create(driver, tmp_path, _ova(tmp_path))
    vm = si.content.searchIndex.FindByUuid(None, driver.config.MachineId, True, False)
    assert (vm.parent.name, vm.runtime.host.name, vm.resourcePool.parent.name) == (
        "team",
        "DC0_C0_H1",
        "DC0_C0",
    )
    assert driver.state() is State.RUNNING
    driver.remove()
    assert driver.state() is State.NOT_FOUND
