"""Choosing hardware acceleration (KVM) or software emulation (TCG), by trying, not assuming.

/dev/kvm can exist and still not run a stock kernel (nested or paravirtual setups). With
`--kvm-accel auto`, the image's kernel is booted once under KVM with an init that does not exist:
if the kernel gets as far as trying to run it, KVM works. The answer is remembered per host
kernel and QEMU; images without a separate kernel use TCG unless KVM was proven before.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from machine.driver import BootImage, attempts

PROBE_TIMEOUT = 20.0
STATE = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "machine" / "kvm-accel.json"
)
# Printed by every Linux kernel when it execs (or fails to exec) the init it was given.
REACHED_INIT = (b"Run /machine-accel-probe as init process", b"/machine-accel-probe failed")
TCG_NOTE = "KVM acceleration does not run guests on this host: using software emulation (TCG)"


def choose(setting: str, image: BootImage) -> tuple[str, str]:
    """(libvirt domain type, a one-line note for the user or "")."""
    if setting == "kvm":
        return "kvm", ""
    if setting == "tcg":
        return "qemu", ""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "qemu", "No usable /dev/kvm: using software emulation (TCG)"
    key = _host_key()
    known = _load().get(key)
    if known is None and image.kernel is not None and image.initrd is not None:
        known = probe(image.kernel, image.initrd)
        _save(key, known)
    if known:
        return "kvm", ""
    return "qemu", TCG_NOTE


def probe(kernel: Path, initrd: Path) -> bool:
    qemu = "qemu-system-x86_64"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serial.log"
        argv = [
            qemu,
            "-accel",
            "kvm",
            "-M",
            "q35",
            "-m",
            "256",
            "-nographic",
            "-nodefaults",
            "-no-reboot",
            "-kernel",
            str(kernel),
            "-initrd",
            str(initrd),
            "-append",
            "console=ttyS0 panic=-1 rdinit=/machine-accel-probe init=/machine-accel-probe",
            "-serial",
            f"file:{log}",
        ]
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            return False
        reached = False
        try:
            for _ in attempts(time.monotonic() + PROBE_TIMEOUT, first=0.2, factor=1.0):
                reached = log.exists() and any(m in log.read_bytes() for m in REACHED_INIT)
                if reached or proc.poll() is not None:
                    break
            if log.exists() and any(m in log.read_bytes() for m in REACHED_INIT):
                reached = True
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return reached


def _host_key() -> str:
    try:
        qemu = subprocess.run(
            ["qemu-system-x86_64", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.split("\n")[0]
    except (OSError, subprocess.TimeoutExpired):
        qemu = "no-qemu"
    return f"{os.uname().release}|{qemu}"


def _load() -> dict[str, bool]:
    try:
        data = json.loads(STATE.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(key: str, works: bool) -> None:
    data = _load()
    data[key] = works
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(data, indent=1) + "\n")
