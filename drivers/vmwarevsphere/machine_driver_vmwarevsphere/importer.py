"""Importing an OVA as a new VM: the descriptor becomes an import spec (OvfManager), the pool
opens an NFC lease for it, and each disk of the OVA is streamed to the URL the lease gives
(ESXi writes the stream-optimised VMDK as a disk of the datastore's own format)."""

from __future__ import annotations

import contextlib
import tarfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from machine.driver import DriverError, attempts

CHUNK = 1 << 20
LEASE_WAIT = 300.0  # seconds for the lease to become ready (a busy vCenter)


def descriptor(ova: Path) -> tuple[str, dict[str, tarfile.TarInfo]]:
    """The OVF descriptor of an OVA and its other members by name."""
    with tarfile.open(ova) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        ovf = next((m for name, m in members.items() if name.endswith(".ovf")), None)
        if ovf is None:
            raise DriverError(f"{ova} holds no OVF descriptor")
        handle = tar.extractfile(ovf)
        assert handle is not None
        return handle.read().decode(), members


def import_ova(
    si: Any,
    ova: Path,
    name: str,
    placement: Any,
    network_names: list[str],
    target: Any,
    netloc: str,
    made: Callable[[Any], None],
) -> Any:
    """The new VM (powered off). `made(vm)` is called as soon as it exists. `netloc` (host:port
    of the vCenter) replaces the "*" in the lease's URLs."""
    from machine_driver_vmwarevsphere import sdk

    vim = sdk.vim()

    text, members = descriptor(ova)
    mapping = []
    if placement.networks:
        for ovf_name in network_names or ["VM Network"]:
            mapping.append(
                vim.OvfManager.NetworkMapping(name=ovf_name, network=placement.networks[0])
            )
    params = vim.OvfManager.CreateImportSpecParams(entityName=name, networkMapping=mapping)
    result = si.content.ovfManager.CreateImportSpec(
        text, placement.pool, placement.datastore, params
    )
    if result.error:
        raise DriverError(f"vSphere refused the OVA: {result.error[0].localizedMessage}")
    lease = placement.pool.ImportVApp(result.importSpec, placement.folder, placement.host)
    for _ in attempts(time.monotonic() + LEASE_WAIT, first=0.2, factor=1.5):
        if lease.state != vim.HttpNfcLease.State.initializing:
            break
    if lease.state == vim.HttpNfcLease.State.error:
        raise DriverError(f"the import of {ova.name} failed: {lease.error.localizedMessage}")
    if lease.state != vim.HttpNfcLease.State.ready:
        raise DriverError(f"the import lease of {ova.name} never became ready")
    vm = lease.info.entity
    made(vm)
    try:
        items = {item.deviceId: item for item in result.fileItem or []}
        total = sum(members[i.path].size for i in items.values() if i.path in members) or 1
        sent = 0
        for device in lease.info.deviceUrl:
            item = items.get(device.importKey)
            if item is None or item.path not in members:
                continue
            url = device.url.replace("*", netloc, 1)
            _upload(ova, members[item.path], url, target, si._stub.cookie)
            sent += members[item.path].size
            lease.HttpNfcLeaseProgress(int(100 * sent / total))
        lease.HttpNfcLeaseComplete()
    except BaseException:
        with contextlib.suppress(Exception):  # the VM is removed from the journal either way
            lease.HttpNfcLeaseAbort()
        raise
    return vm


def _upload(ova: Path, member: tarfile.TarInfo, url: str, target: Any, cookie: str) -> None:
    from machine_driver_vmwarevsphere.connection import https

    parts = urllib.parse.urlsplit(url)
    connection = https(parts.netloc, target)
    try:
        connection.putrequest("PUT", parts.path + (f"?{parts.query}" if parts.query else ""))
        connection.putheader("Content-Type", "application/x-vnd.vmware-streamVmdk")
        connection.putheader("Content-Length", str(member.size))
        if cookie:
            connection.putheader("Cookie", cookie)
        connection.endheaders()
        with tarfile.open(ova) as tar:
            source = tar.extractfile(member)
            assert source is not None
            while chunk := source.read(CHUNK):
                connection.send(chunk)
        answer = connection.getresponse()
        answer.read()
        if answer.status >= 300:
            raise DriverError(f"uploading {member.name} failed: HTTP {answer.status}")
    except OSError as exc:
        raise DriverError(f"uploading {member.name} failed: {exc}") from None
    finally:
        connection.close()
