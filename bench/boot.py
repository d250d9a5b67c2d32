"""machine-os boot paths under this host's QEMU: direct kernel boot (what kvm uses by default)
against booting by firmware, SeaBIOS and OVMF (what VMware and VirtualBox do), measured from
QEMU's start to sshd's banner on a forwarded port of 127.0.0.1. Median of several runs each,
run one at a time, with the ratio of each to direct boot.

Needs root the first time (it builds machine-os into the tests' image cache).
Run: .venv/bin/python bench/boot.py [runs] [ways...]   (ways: kernel bios uefi; default all)
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import seed
from machine.images.cache import Cache, Digest
from machine.tls import certs
from testbed import images as machine_os

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
DEADLINE = 600.0


WAYS = {"kernel": "direct kernel", "bios": "BIOS (SeaBIOS)", "uefi": "UEFI (OVMF)"}


def main(runs: int, ways: list[str]) -> None:
    manifest = machine_os.built()
    cache = Cache(machine_os.IMAGE_CACHE)
    disk, kernel, initrd = (
        cache.blob(Digest.parse(manifest[k])) for k in ("disk", "kernel", "initrd")
    )
    accel = os.environ.get("MACHINE_BENCH_ACCEL", "tcg")  # kvm where it runs guests
    print(f"machine-os boot to sshd banner, QEMU accel={accel}, {runs} runs each (median)")
    results: dict[str, float] = {}
    for way in [WAYS[w] for w in ways or WAYS]:
        times = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory(prefix="machine-bench-boot-") as tmp:
                times.append(
                    _boot(way, Path(tmp), disk, kernel, initrd, manifest["cmdline"], accel)
                )
        results[way] = statistics.median(times)
        spread = f"{min(times):.1f}-{max(times):.1f}"
        base = results.get("direct kernel")
        ratio = f"   x{results[way] / base:.2f} of direct" if base else ""
        print(f"  {way:16} {results[way]:6.1f} s   (runs {spread} s){ratio}")
    fastest = min(results, key=lambda k: results[k])
    print(f"fastest: {fastest}")


def _boot(
    way: str, work: Path, disk: Path, kernel: Path, initrd: Path, cmdline: str, accel: str
) -> float:
    overlay = work / "disk.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(disk), str(overlay)],
        check=True,
    )
    private, public = certs.ssh_keypair()
    iso = work / "seed.iso"
    iso.write_bytes(
        seed.iso(seed.Seed("bench", "docker", public, private.decode(), public, "i-bench"))
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    argv = [
        *("qemu-system-x86_64", "-accel", accel, "-m", "1024", "-smp", "1"),
        *("-display", "none", "-monitor", "none", "-serial", f"file:{work / 'serial.log'}"),
        *("-nic", f"user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:{port}-:22"),
        *("-drive", f"if=virtio,file={overlay},format=qcow2"),
        *("-drive", f"if=virtio,file={iso},format=raw,readonly=on"),
    ]
    if way == "direct kernel":
        argv += ["-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline]
    if way.startswith("UEFI"):
        shutil.copyfile(OVMF_VARS, work / "vars.fd")
        argv += [
            *("-machine", "q35"),
            *("-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}"),
            *("-drive", f"if=pflash,format=raw,file={work / 'vars.fd'}"),
        ]
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - start < DEADLINE:
            if proc.poll() is not None:
                raise SystemExit(f"QEMU exited {proc.returncode} ({way})")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                    conn.settimeout(5)
                    if conn.recv(8).startswith(b"SSH-"):
                        return time.monotonic() - start
            except OSError:
                pass
            time.sleep(0.25)
        raise SystemExit(f"no sshd banner within {DEADLINE:.0f} s ({way})")
    finally:
        proc.terminate()  # ours, by PID
        proc.wait()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, sys.argv[2:])
