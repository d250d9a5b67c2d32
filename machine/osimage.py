"""Building machine-os, the project's own boot image, offline from Debian packages.

mmdebstrap makes the root file system (images/machine-os: packages.txt, customize.sh), then
`mkfs.ext4 -d` turns that folder into a file system image without mounting anything, and
qemu-img makes it a qcow2 disk. There is no bootloader: the kernel and initrd are kept beside
the disk and booted directly, which is also the fastest way to a running sshd.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from machine.images import Cache, ImageError

RECIPE = Path(__file__).resolve().parent / "_images" / "machine-os"
NAME = "machine-os"
SUITE = "bookworm"
DISK_MB = 1200
CMDLINE = "root=/dev/vda rw console=ttyS0 quiet"
TOOLS = {"mmdebstrap": "mmdebstrap", "mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils"}


def recipe_digest(recipe: Path = RECIPE) -> str:
    """Changes whenever anything in the recipe does (a rebuild is then due)."""
    h = hashlib.sha256(SUITE.encode())
    for path in sorted(recipe.iterdir()):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def packages(recipe: Path = RECIPE) -> list[str]:
    lines = (recipe / "packages.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def build(
    cache: Cache,
    step: Callable[[str], None] = lambda message: None,
    recipe: Path = RECIPE,
    name: str = NAME,
    ssh_user: str = "docker",
) -> dict[str, str]:
    """Build machine-os (or another recipe of the same shape: packages.txt, customize.sh) into
    `cache` as the named image; returns its manifest."""
    missing = [f"{tool} ({pkg})" for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        raise ImageError(
            f"building machine-os needs {', '.join(missing)}",
            hint="Install them, e.g. `apt-get install mmdebstrap e2fsprogs qemu-utils`.",
        )
    if os.geteuid() != 0:
        raise ImageError("building machine-os needs root (mmdebstrap makes device nodes)")
    cache.root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="machine-os-", dir=cache.root) as tmp:
        work = Path(tmp)
        root = work / "root"
        step(f"Building the {name} root file system ({SUITE}, {len(packages(recipe))} packages)...")
        _run(
            [
                "mmdebstrap",
                "--variant=minbase",
                f"--include={','.join(packages(recipe))}",
                f'--customize-hook={recipe / "customize.sh"} "$1"',
                SUITE,
                str(root),
            ]
        )
        kernels = sorted((root / "boot").glob("vmlinuz-*"))
        initrds = sorted((root / "boot").glob("initrd.img-*"))
        if not kernels or not initrds:
            raise ImageError(f"the {name} root file system has no kernel or initrd")
        shutil.copyfile(kernels[-1], work / "vmlinuz")
        shutil.copyfile(initrds[-1], work / "initrd.img")
        step(f"Making the {name} disk...")
        raw = work / "disk.raw"
        _run(
            [
                "mkfs.ext4",
                "-q",
                "-F",
                "-d",
                str(root),
                "-L",
                name[:16],
                "-E",
                "root_owner=0:0",
                str(raw),
                f"{DISK_MB}M",
            ]
        )
        shutil.rmtree(root)
        _run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(work / "disk.qcow2")])
        raw.unlink()
        manifest = {
            "name": name,
            "disk": str(cache.add_file(work / "disk.qcow2")),
            "kernel": str(cache.add_file(work / "vmlinuz")),
            "initrd": str(cache.add_file(work / "initrd.img")),
            "format": "qcow2",
            "ssh_user": ssh_user,
            "cmdline": CMDLINE,
            "recipe": recipe_digest(recipe),
            "built": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    old = cache.manifest(name)
    cache.save_manifest(name, manifest)
    if old:  # drop the previous build's blobs unless still named
        cache.prune()
    return manifest


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-1500:]
        raise ImageError(f"{argv[0]} failed (exit {result.returncode}): {tail}")
