"""What the driver does to one VM: clone, reconfigure, power, wait for the guest's address,
destroy; and the one property collection `ls` makes for all VMs of a vCenter."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from machine.driver import DriverError, attempts

TASK_WAIT = 900.0  # seconds: a clone of a large template on a busy datastore


def wait(task: Any, what: str, deadline: float | None = None) -> Any:
    """The task's result; its error as a DriverError naming `what`."""
    from machine_driver_vmwarevsphere import sdk

    vim = sdk.vim()

    for _ in attempts(deadline or time.monotonic() + TASK_WAIT, first=0.1, factor=1.5, cap=2.0):
        state = task.info.state
        if state == vim.TaskInfo.State.success:
            return task.info.result
        if state == vim.TaskInfo.State.error:
            fault = task.info.error
            message = getattr(fault, "msg", "") or type(fault).__name__
            raise DriverError(f"{what} failed: {message}")
    raise DriverError(f"{what} did not finish in time")


def clone(si: Any, source: Any, name: str, placement: Any, made: Callable[[Any], None]) -> Any:
    from machine_driver_vmwarevsphere import sdk

    vim = sdk.vim()

    location = vim.vm.RelocateSpec(pool=placement.pool, datastore=placement.datastore)
    if placement.host is not None:
        location.host = placement.host
    spec = vim.vm.CloneSpec(location=location, powerOn=False, template=False)
    vm = wait(source.CloneVM_Task(folder=placement.folder, name=name, spec=spec), "the clone")
    made(vm)
    return vm


def configure(
    vm: Any,
    cpus: int,
    memory_mb: int,
    disk_mb: int,
    networks: Sequence[Any],
    extra_config: dict[str, str],
) -> None:
    """CPU, memory, the first disk grown to `disk_mb`, one NIC per network (the image's first
    NIC moved to the first network), and the ExtraConfig (seed, cfgparams, tags)."""
    from machine_driver_vmwarevsphere import sdk

    vim = sdk.vim()

    changes = []
    devices = list(vm.config.hardware.device)
    disks = [d for d in devices if isinstance(d, vim.vm.device.VirtualDisk)]
    if disks and disks[0].capacityInKB < disk_mb * 1024:
        disk = disks[0]
        disk.capacityInKB = disk_mb * 1024
        disk.capacityInBytes = disk_mb * 1024 * 1024
        changes.append(
            vim.vm.device.VirtualDeviceSpec(
                operation=vim.vm.device.VirtualDeviceSpec.Operation.edit, device=disk
            )
        )
    nics = [d for d in devices if isinstance(d, vim.vm.device.VirtualEthernetCard)]
    for index, network in enumerate(networks):
        if index < len(nics):
            nic = nics[index]
            operation = vim.vm.device.VirtualDeviceSpec.Operation.edit
        else:
            nic = vim.vm.device.VirtualVmxnet3()
            nic.key = -100 - index
            operation = vim.vm.device.VirtualDeviceSpec.Operation.add
        nic.backing = _backing(network)
        nic.connectable = vim.vm.device.VirtualDevice.ConnectInfo(
            startConnected=True, allowGuestControl=True, connected=True
        )
        changes.append(vim.vm.device.VirtualDeviceSpec(operation=operation, device=nic))
    spec = vim.vm.ConfigSpec(
        numCPUs=cpus,
        memoryMB=memory_mb,
        deviceChange=changes,
        extraConfig=[vim.option.OptionValue(key=k, value=v) for k, v in extra_config.items()],
    )
    wait(vm.ReconfigVM_Task(spec=spec), "the VM's configuration")


def _backing(network: Any) -> Any:
    from machine_driver_vmwarevsphere import sdk

    vim = sdk.vim()

    if isinstance(network, vim.dvs.DistributedVirtualPortgroup):
        port = vim.dvs.PortConnection(
            portgroupKey=network.key,
            switchUuid=network.config.distributedVirtualSwitch.uuid,
        )
        return vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(port=port)
    return vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(
        deviceName=network.name, network=network
    )


def power_on(vm: Any) -> None:
    if vm.runtime.powerState != "poweredOn":
        wait(vm.PowerOnVM_Task(), "power on")


def power_off(vm: Any) -> None:
    if vm.runtime.powerState != "poweredOff":
        wait(vm.PowerOffVM_Task(), "power off")


def shut_down(vm: Any, timeout: float) -> None:
    """A guest shutdown through VMware Tools, then power off once `timeout` has passed
    (docker-machine waited forever)."""
    from machine_driver_vmwarevsphere import sdk

    vim = sdk.vim()

    if vm.runtime.powerState == "poweredOff":
        return
    try:
        vm.ShutdownGuest()
    except (vim.fault.ToolsUnavailable, vim.fault.InvalidState):
        power_off(vm)  # no tools to ask: power off
        return
    for _ in attempts(time.monotonic() + timeout, first=1.0, factor=1.0):
        if vm.runtime.powerState == "poweredOff":
            return
    power_off(vm)


def wait_for_ip(vm: Any, deadline: float) -> str:
    """The guest's IPv4 address as its tools report it (global unicast, not docker0's)."""
    for _ in attempts(deadline, first=1.0, factor=1.3, cap=5.0):
        if ip := _address(vm):
            return ip
    raise DriverError(
        f"VM {vm.name} reported no IP address in time",
        hint="The guest's VMware Tools (open-vm-tools) report it: check that they run.",
    )


def _address(vm: Any) -> str:
    guest = vm.guest
    candidates = []
    for nic in guest.net or []:
        candidates += list(nic.ipAddress or [])
    if guest.ipAddress:
        candidates.insert(0, guest.ipAddress)
    for text in candidates:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            continue
        usable = ip.version == 4 and not ip.is_link_local and not ip.is_loopback
        if usable and text != "172.17.0.1":  # the engine's own bridge, as docker-machine skips
            return str(text)
    return ""


def destroy(vm: Any) -> None:
    power_off(vm)
    wait(vm.Destroy_Task(), "destroying the VM")


def power_states(si: Any) -> dict[str, str]:
    """Every VM's power state by BIOS UUID (and by "name:NAME" for records without one), in
    one RetrievePropertiesEx over a container view of the whole inventory."""
    out: dict[str, str] = {}
    for props in _collect(si, ["config.uuid", "name", "runtime.powerState"]):
        power = str(props.get("runtime.powerState", ""))
        if uuid := props.get("config.uuid"):
            out[str(uuid)] = power
        if name := props.get("name"):
            out.setdefault(f"name:{name}", power)
    return out


def tagged(si: Any, store_key: str, store_id: str, name_key: str) -> list[tuple[str, str, str]]:
    """(UUID, machine name, power state) of every VM whose ExtraConfig says this store made it."""
    out = []
    for props in _collect(si, ["config.uuid", "config.extraConfig", "runtime.powerState"]):
        extra = {o.key: o.value for o in props.get("config.extraConfig") or []}
        if store_id and extra.get(store_key) == store_id:
            uuid = str(props.get("config.uuid", ""))
            out.append((uuid, str(extra.get(name_key, "")), str(props.get("runtime.powerState"))))
    return out


def _collect(si: Any, paths: list[str]) -> Iterator[dict[str, Any]]:
    from machine_driver_vmwarevsphere import sdk

    vim, vmodl = sdk.vim(), sdk.vmodl()

    content = si.content
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        spec = vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[
                vmodl.query.PropertyCollector.ObjectSpec(
                    obj=view,
                    skip=True,
                    selectSet=[
                        vmodl.query.PropertyCollector.TraversalSpec(
                            name="view", path="view", skip=False, type=vim.view.ContainerView
                        )
                    ],
                )
            ],
            propSet=[
                vmodl.query.PropertyCollector.PropertySpec(
                    type=vim.VirtualMachine, pathSet=paths, all=False
                )
            ],
        )
        collector = content.propertyCollector
        result = collector.RetrievePropertiesEx(
            [spec], vmodl.query.PropertyCollector.RetrieveOptions()
        )
        while result is not None:
            for obj in result.objects:
                yield {p.name: p.val for p in obj.propSet or []}
            if not result.token:
                break
            result = collector.ContinueRetrievePropertiesEx(result.token)
    finally:
        view.DestroyView()
