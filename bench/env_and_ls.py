"""`machine env NAME` cold start and `machine ls` over 1000 `none` machines.

Goals: env <= 100 ms median of 10; ls of 1000 machines <= 0.5 s.
Run: .venv/bin/python bench/env_and_ls.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import MACHINE, median_seconds, verdict

COUNT = 1000


def _generic_record(root: Path, name: str, ip: str) -> None:
    """A generic machine's record with real certificates, as create leaves it (no host needed)."""
    from machine.driver import Endpoint
    from machine.ops import context as opcontext
    from machine.ops import provisioning
    from machine.store.filestore import Store
    from machine.store.record import HostOptions, HostRecord
    from machine.tls import certstore

    store = Store(root)
    files = certstore.store_files(store.certs_dir)
    mdir = store.create_dir(name)
    driver = {
        "IPAddress": ip,
        "MachineName": name,
        "SSHUser": "root",
        "SSHPort": 22,
        "SSHKeyPath": "",
        "StorePath": str(root),
        "SwarmMaster": False,
        "SwarmHost": "",
        "SwarmDiscovery": "",
        "EnginePort": 2376,
        "SSHKey": "",
    }
    record = HostRecord(
        Name=name,
        DriverName="generic",
        Driver=driver,
        HostOptions=HostOptions(Driver="generic", AuthOptions=opcontext.auth_options(store, name)),
    )
    store.save(record)
    ep = Endpoint(ip, ip, 22, "root", "")
    certstore.issue_server_cert(
        files,
        name,
        provisioning.server_cert_hosts(record, ep),
        mdir / "server.pem",
        mdir / "server-key.pem",
    )
    certstore.copy_client_files(files, mdir)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MACHINE_STORAGE_PATH": tmp, "SHELL": "/bin/bash"}
        subprocess.run(
            [MACHINE, "create", "-d", "none", "--url", "tcp://127.0.0.1:9", "m0"],
            env=env,
            check=True,
            capture_output=True,
        )
        # Copy the record 999 times (a create per machine would only measure create).
        src = Path(tmp, "machines", "m0", "config.json").read_text()
        for i in range(1, COUNT):
            d = Path(tmp, "machines", f"m{i}")
            d.mkdir(mode=0o700)
            (d / "config.json").write_text(src.replace('"m0"', f'"m{i}"'))
        _generic_record(Path(tmp), "g0", "127.0.0.1")
        base = median_seconds([sys.executable, "-c", "pass"], env)
        env_t = median_seconds([MACHINE, "env", "g0"], env)
        ls_t = median_seconds([MACHINE, "ls"], env, runs=5)
        lsq_t = median_seconds([MACHINE, "ls", "-q"], env, runs=5)
        lsf_t = median_seconds([MACHINE, "ls", "--filter", "state=Running"], env, runs=5)
        print(f"python -c pass          {base * 1000:7.1f} ms (median of 10)")
        print(
            f"machine env NAME        {env_t * 1000:7.1f} ms (median of 10)  "
            f"{verdict(env_t, 0.100)}; docker-machine 0.16.2: ~25 ms, ratio {env_t / 0.025:.1f}x"
        )
        print(
            f"machine ls, {COUNT} none   {ls_t * 1000:7.1f} ms (median of 5)   "
            f"{verdict(ls_t, 0.5)}; docker-machine 0.16.2: ~12 s, ratio {ls_t / 12:.3f}x"
        )
        print(
            f"machine ls -q, {COUNT}     {lsq_t * 1000:7.1f} ms (median of 5)   "
            f"{verdict(lsq_t, 0.5)}"
        )
        print(
            f"ls --filter state=Running {lsf_t * 1000:6.1f} ms (median of 5)   "
            f"{verdict(lsf_t, 0.5)}; docker-machine users reported minutes (#4117)"
        )


if __name__ == "__main__":
    main()
