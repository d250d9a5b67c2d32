"""Finding things in a vCenter's (or an ESXi host's) inventory, with docker-machine's defaults:
the only datacenter, the datacenter's VM folder, the first datastore, the host's (or the
first compute resource's) root resource pool."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from machine.driver import PreCreateCheckFailed


@dataclass(frozen=True)
class Placement:
    """Where a machine's VM lives; names as the user gives them (or as found by default)."""

    datacenter: Any
    folder: Any
    datastore: Any
    pool: Any
    host: Any | None
    networks: tuple[Any, ...]


def _view(si: Any, root: Any, kinds: Sequence[Any]) -> list[Any]:
    view = si.content.viewManager.CreateContainerView(root, list(kinds), True)
    try:
        return list(view.view)
    finally:
        view.DestroyView()


def datacenter(si: Any, name: str) -> Any:
    from machine_driver_vmwarevsphere import sdk

    vim = sdk.vim()

    found = _view(si, si.content.rootFolder, [vim.Datacenter])
    if name:
        for dc in found:
            if name in (dc.name, _path(si, dc)):
                return dc
        raise PreCreateCheckFailed(
            f"datacenter {name!r} not found", hint=_choices("Datacenters", found)
        )
    if len(found) == 1:
        return found[0]
    if not found:
        raise PreCreateCheckFailed("this vCenter has no datacenter")
    raise PreCreateCheckFailed(
        "this vCenter has several datacenters: choose one with --vmwarevsphere-datacenter",
        hint=_choices("Datacenters", found),
    )


def _path(si: Any, entity: Any) -> str:
    """An entity's inventory path below the root folder, e.g. "DC0/vm/team"."""
    parts = []
    while entity is not None and entity != si.content.rootFolder:
        parts.append(entity.name)
        entity = entity.parent
    return "/".join(reversed(parts))


def _choices(what: str, entities: Sequence[Any]) -> str:
    names = sorted(e.name for e in entities)
    return f"{what}: {', '.join(names)}" if names else ""


def place(
    si: Any,
    dc_name: str,
    folder: str,
    datastore: str,
    pool: str,
    host: str,
    networks: Sequence[str],
) -> Placement:
    from machine_driver_vmwarevsphere import sdk

    vim = sdk.vim()

    dc = datacenter(si, dc_name)
    vm_folder = vm_folder_of(si, dc, folder)
    if vm_folder is None:
        raise PreCreateCheckFailed(
            f"folder {folder!r} not found in datacenter {dc.name} (it must exist)"
        )

    # the folders' views, not dc.datastore: that list can name datastores that are gone
    stores = _view(si, dc.datastoreFolder, [vim.Datastore])
    if datastore:
        chosen = [d for d in stores if d.name == datastore]
        if not chosen:
            raise PreCreateCheckFailed(
                f"datastore {datastore!r} not found", hint=_choices("Datastores", stores)
            )
        store = chosen[0]
    elif stores:
        store = stores[0]
    else:
        raise PreCreateCheckFailed(f"datacenter {dc.name} has no datastore")

    hosts = _view(si, dc.hostFolder, [vim.HostSystem])
    host_system = None
    if host:
        matching = [h for h in hosts if h.name == host]
        if not matching:
            raise PreCreateCheckFailed(f"host {host!r} not found", hint=_choices("Hosts", hosts))
        host_system = matching[0]

    pools = _view(si, dc.hostFolder, [vim.ResourcePool])
    if pool:
        matching = [p for p in pools if pool in (p.name, _path(si, p), _pool_path(si, p))]
        if not matching:
            raise PreCreateCheckFailed(
                f"resource pool {pool!r} not found",
                hint=", ".join(sorted(_pool_path(si, p) for p in pools)),
            )
        resource_pool = matching[0]
    elif host_system is not None:
        resource_pool = host_system.parent.resourcePool  # the host's default pool
    else:
        computes = _view(si, dc.hostFolder, [vim.ComputeResource])
        if not computes:
            raise PreCreateCheckFailed(f"datacenter {dc.name} has no host or cluster")
        resource_pool = computes[0].resourcePool

    nets = _view(si, dc.networkFolder, [vim.Network])
    chosen_networks = []
    for name in networks:
        matching = [n for n in nets if n.name == name]
        if not matching:
            raise PreCreateCheckFailed(
                f"network {name!r} not found", hint=_choices("Networks", nets)
            )
        chosen_networks.append(matching[0])
    return Placement(dc, vm_folder, store, resource_pool, host_system, tuple(chosen_networks))


def vm_folder_of(si: Any, dc: Any, folder: str) -> Any | None:
    """The datacenter's VM folder, or the one named `folder` below it (None: there is none)."""
    from machine_driver_vmwarevsphere import sdk

    if not folder:
        return dc.vmFolder
    found = si.content.searchIndex.FindByInventoryPath(f"{_path(si, dc)}/vm/{folder}")
    return found if isinstance(found, sdk.vim().Folder) else None


def _pool_path(si: Any, pool: Any) -> str:
    """A pool as govc names it below the datacenter's host folder: "CLUSTER/Resources/POOL"."""
    path = _path(si, pool)
    return path.split("/host/", 1)[1] if "/host/" in path else path


def find_vm(si: Any, dc: Any, uuid: str) -> Any | None:
    """The VM with this BIOS UUID in the datacenter (None: it is gone)."""
    if not uuid:
        return None
    return si.content.searchIndex.FindByUuid(dc, uuid, True, False)


def find_template(si: Any, dc: Any, name: str) -> Any:
    from machine_driver_vmwarevsphere import sdk

    vim = sdk.vim()

    found = si.content.searchIndex.FindByInventoryPath(f"{_path(si, dc)}/vm/{name}")
    if isinstance(found, vim.VirtualMachine):
        return found
    for vm in _view(si, dc.vmFolder, [vim.VirtualMachine]):
        if vm.name == name:
            return vm
    raise PreCreateCheckFailed(f"--vmwarevsphere-clone-from: no VM or template {name!r}")
