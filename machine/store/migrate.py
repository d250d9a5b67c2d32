"""docker-machine's config migrations, v0 → v1 → v2 → v3, as pure functions on the JSON.

They follow libmachine/host/migrate*.go: v0 kept TLS paths and swarm settings at the top level;
v1 nested them into HostOptions; v2 renamed AuthOptions.PrivateKeyPath to CaPrivateKeyPath and
added CertDir and StorePath; v3 put the store path into the driver's own JSON.
"""

from __future__ import annotations

import copy
import posixpath
from typing import Any

from machine.store.record import CONFIG_VERSION, DEFAULT_INSTALL_URL

JSON = dict[str, Any]


def migrate(data: JSON, machine_dir: str) -> tuple[JSON, bool]:
    """(config at version 3, whether anything changed). `machine_dir` is machines/NAME."""
    version = data.get("ConfigVersion", 0)
    out = copy.deepcopy(data)
    if version >= CONFIG_VERSION:
        return out, False
    if version < 1:
        out = v0_to_v1(out, machine_dir)
    if version < 2:
        out = v1_to_v2(out, machine_dir)
    out = v2_to_v3(out)
    out["ConfigVersion"] = CONFIG_VERSION
    return out, True


def v0_to_v1(v0: JSON, machine_dir: str) -> JSON:
    driver = v0.get("Driver") or {}
    return {
        "ConfigVersion": 1,
        "Driver": driver,
        "DriverName": v0.get("DriverName", ""),
        "Name": v0.get("Name") or driver.get("MachineName") or posixpath.basename(machine_dir),
        "StorePath": v0.get("StorePath") or machine_dir,
        "HostOptions": {
            "Driver": "",
            "Memory": 0,
            "Disk": 0,
            "EngineOptions": {"TlsVerify": True, "InstallURL": DEFAULT_INSTALL_URL},
            "SwarmOptions": {
                "Address": "",
                "Discovery": v0.get("SwarmDiscovery", ""),
                "Host": v0.get("SwarmHost", ""),
                "Master": bool(v0.get("SwarmMaster", False)),
            },
            "AuthOptions": {
                "StorePath": v0.get("StorePath") or machine_dir,
                "CaCertPath": v0.get("CaCertPath", ""),
                "CaCertRemotePath": "",
                "ServerCertPath": v0.get("ServerCertPath", ""),
                "ServerKeyPath": v0.get("ServerKeyPath", ""),
                "ClientKeyPath": v0.get("ClientKeyPath", ""),
                "ServerCertRemotePath": "",
                "ServerKeyRemotePath": "",
                "PrivateKeyPath": v0.get("PrivateKeyPath", ""),
                "ClientCertPath": v0.get("ClientCertPath", ""),
            },
        },
    }


def v1_to_v2(v1: JSON, machine_dir: str) -> JSON:
    host_store = v1.get("StorePath") or machine_dir
    global_store = posixpath.dirname(posixpath.dirname(host_store.rstrip("/")))
    options = v1.get("HostOptions") or {}
    auth = options.get("AuthOptions") or {}
    driver = v1.get("Driver") or {}
    return {
        "ConfigVersion": 2,
        "Driver": driver,
        "DriverName": v1.get("DriverName", ""),
        "HostOptions": {
            "Driver": options.get("Driver", ""),
            "Memory": options.get("Memory", 0),
            "Disk": options.get("Disk", 0),
            "EngineOptions": options.get("EngineOptions") or {},
            "SwarmOptions": options.get("SwarmOptions") or {},
            "AuthOptions": {
                "CertDir": posixpath.join(global_store, "certs"),
                "CaCertPath": auth.get("CaCertPath", ""),
                "CaPrivateKeyPath": auth.get("PrivateKeyPath", auth.get("CaPrivateKeyPath", "")),
                "CaCertRemotePath": auth.get("CaCertRemotePath", ""),
                "ServerCertPath": auth.get("ServerCertPath", ""),
                "ServerKeyPath": auth.get("ServerKeyPath", ""),
                "ClientKeyPath": auth.get("ClientKeyPath", ""),
                "ServerCertRemotePath": auth.get("ServerCertRemotePath", ""),
                "ServerKeyRemotePath": auth.get("ServerKeyRemotePath", ""),
                "ClientCertPath": auth.get("ClientCertPath", ""),
                "StorePath": host_store,
            },
        },
        "Name": v1.get("Name") or driver.get("MachineName") or posixpath.basename(machine_dir),
    }


def v2_to_v3(v2: JSON) -> JSON:
    out = dict(v2)
    driver = dict(out.get("Driver") or {})
    host_store = ((out.get("HostOptions") or {}).get("AuthOptions") or {}).get("StorePath", "")
    if host_store and "StorePath" not in driver:
        driver["StorePath"] = posixpath.dirname(posixpath.dirname(host_store.rstrip("/")))
    out["Driver"] = driver
    return out
