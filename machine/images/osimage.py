"""Building machine-os, the project's own boot image, offline from Debian packages.

mmdebstrap makes the root file system (images/machine-os: packages.txt, customize.sh); the disk
is then assembled from file-system images without mounting anything:

- a GPT disk with two partitions: an EFI system partition (FAT, made with mtools) holding the
  kernel, the initrd and SYSLINUX for both firmwares, and the root file system (ext4 from
  `mkfs.ext4 -d`, typed "Linux root x86-64" so that systemd tools find it);
- BIOS firmware (SeaBIOS, VMware, VirtualBox) runs syslinux's gptmbr, which starts the partition
  marked legacy-BIOS-bootable; UEFI firmware (OVMF) runs EFI/BOOT/BOOTX64.EFI;
- the kernel and initrd are kept beside the disk too: a hypervisor that can boot a kernel
  directly (kvm) skips the firmware and the boot loader.

The kernel writes to the serial port and to the screen, so a boot can be followed on either.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from machine.errors import ImageError
from machine.images.cache import Cache

RECIPE = Path(__file__).resolve().parent / "data" / "machine-os"
NAME = "machine-os"
SUITE = "bookworm"
LAYOUT = 2  # the disk this module assembles (2: GPT, ESP + root); part of the recipe digest
ROOT_LABEL = "machine-root"  # every machine-os disk's root file system (fstab, cmdline)
ROOT_SPARE_MB = 600  # free room in the root file system beyond what the packages take
ESP_SPARE_MB = 24
SECTOR = 512
ALIGN = 2048  # sectors: partitions start on 1 MiB boundaries
CONSOLES = "console=tty0 console=ttyS0,115200"  # the last one is /dev/console (systemd's)
CMDLINE = f"root=LABEL={ROOT_LABEL} rw {CONSOLES} quiet"
SEED_STEP = "usr/local/sbin/machine-seed"  # installs the seed's files (images/machine-os)
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
ROOT_TYPE_X86_64 = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
SYSLINUX = {  # boot loader files on the build host (Debian's syslinux-common, syslinux-efi)
    "gptmbr": Path("/usr/lib/syslinux/mbr/gptmbr.bin"),
    "efi": Path("/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi"),
    "ldlinux_e64": Path("/usr/lib/syslinux/modules/efi64/ldlinux.e64"),
}
TOOLS = {
    "mmdebstrap": "mmdebstrap",
    "mkfs.ext4": "e2fsprogs",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "syslinux": "syslinux",
    "sfdisk": "fdisk",
    "qemu-img": "qemu-utils",
}
PACKAGES = (
    "mmdebstrap e2fsprogs dosfstools mtools syslinux syslinux-common syslinux-efi fdisk qemu-utils"
)


def recipe_digest(recipe: Path = RECIPE) -> str:
    """Changes whenever anything in the recipe does (a rebuild is then due)."""
    h = hashlib.sha256(f"{SUITE} layout {LAYOUT}".encode())
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
    check_tools()
    if os.geteuid() != 0:
        raise ImageError("building machine-os needs root (mmdebstrap makes device nodes)")
    cache.root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="machine-os-", dir=cache.root) as tmp:
        work = Path(tmp)
        root = work / "root"
        step(f"Building the {name} root file system ({SUITE}, {len(packages(recipe))} packages)...")
        fstab = f"LABEL={ROOT_LABEL} / ext4 defaults,noatime 0 1"
        hooks = []
        if (recipe / "essential.sh").is_file():  # before the packages (the kernel) go in
            hooks.append(f'--essential-hook={recipe / "essential.sh"} "$1"')
        hooks.append(f'--customize-hook={recipe / "customize.sh"} "$1"')
        hooks.append(f"--customize-hook=echo '{fstab}' > \"$1/etc/fstab\"")
        _run(
            [
                "mmdebstrap",
                "--variant=minbase",
                f"--include={','.join(packages(recipe))}",
                *hooks,
                SUITE,
                str(root),
            ]
        )
        kernels = sorted((root / "boot").glob("vmlinuz-*"))
        initrds = sorted((root / "boot").glob("initrd.img-*"))
        if not kernels or not initrds:
            raise ImageError(f"the {name} root file system has no kernel or initrd")
        engine = shipped_engine(root)
        shutil.copyfile(kernels[-1], work / "vmlinuz")
        shutil.copyfile(initrds[-1], work / "initrd.img")
        step(f"Making the {name} disk (BIOS and UEFI boot)...")
        raw = work / "disk.raw"
        assemble_disk(root, work / "vmlinuz", work / "initrd.img", raw, work)
        shutil.rmtree(root)
        _run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(work / "disk.qcow2")])
        raw.unlink()
        manifest = {
            "name": name,
            "disk": str(cache.add_file(work / "disk.qcow2")),
            "kernel": str(cache.add_file(work / "vmlinuz")),
            "initrd": str(cache.add_file(work / "initrd.img")),
            "format": "qcow2",
            "boot": "firmware",  # the disk boots by itself; kernel+initrd allow direct boot
            "ssh_user": ssh_user,
            "cmdline": CMDLINE,
            **engine,
            "recipe": recipe_digest(recipe),
            "built": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    old = cache.manifest(name)
    cache.save_manifest(name, manifest)
    if old:  # drop the previous build's blobs unless still named
        cache.prune()
    return manifest


def shipped_engine(root: Path) -> dict[str, str]:
    """The engine in a built root file system, as a provisioning pass on the booted image will
    find it: dockerd's path and the text of its own docker.service. With these, a create seeds
    the engine's settings so that it starts once, with TLS. {} when there is no engine, or no
    seed step that installs the files (machine-seed: a cloud-init image applies its seed at
    every boot, so its seed could not be removed afterwards)."""
    if not (root / SEED_STEP).is_file():
        return {}
    units = ("usr/lib/systemd/system/docker.service", "lib/systemd/system/docker.service")
    unit = next((root / u for u in units if (root / u).is_file()), None)
    # where the provisioner's facts look: PATH first, then /usr/bin, /usr/sbin
    where = ("usr/local/bin/dockerd", "usr/bin/dockerd", "usr/sbin/dockerd")
    dockerd = next((f"/{p}" for p in where if (root / p).exists()), "")
    if unit is None or not dockerd:
        return {}
    return {"dockerd": dockerd, "dockerd_unit": unit.read_text()}


def check_tools() -> None:
    missing = [f"{tool} ({pkg})" for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    missing += [f"{path} ({path.parts[3]})" for path in SYSLINUX.values() if not path.is_file()]
    if missing:
        raise ImageError(
            f"building machine-os needs {', '.join(missing)}",
            hint=f"Install them, e.g. `apt-get install {PACKAGES}`.",
        )


def assemble_disk(root: Path, kernel: Path, initrd: Path, disk: Path, work: Path) -> None:
    """Write a bootable GPT disk image to `disk`: ESP with SYSLINUX (BIOS and UEFI) + root."""
    esp = work / "esp.img"
    esp_mb = _mib(kernel.stat().st_size + initrd.stat().st_size) + ESP_SPARE_MB
    _make_esp(esp, esp_mb, kernel, initrd, work)
    rootfs = work / "root.img"
    root_mb = _mib(_tree_size(root)) * 5 // 4 + ROOT_SPARE_MB
    _run(
        [
            *("mkfs.ext4", "-q", "-F", "-d", str(root), "-L", ROOT_LABEL),
            *("-E", "root_owner=0:0", str(rootfs), f"{root_mb}M"),
        ]
    )
    esp_start = ALIGN
    esp_sectors = esp_mb * 2048
    root_start = esp_start + esp_sectors
    root_sectors = root_mb * 2048
    total = (root_start + root_sectors + ALIGN) * SECTOR  # room for the backup GPT
    with open(disk, "wb") as f:
        f.truncate(total)
    layout = (
        "label: gpt\n"
        f"start={esp_start}, size={esp_sectors}, type={ESP_TYPE}, name=EFI, "
        "attrs=LegacyBIOSBootable\n"
        f"start={root_start}, size={root_sectors}, type={ROOT_TYPE_X86_64}, name={ROOT_LABEL}\n"
    )
    _run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(disk)], stdin=layout)
    with open(disk, "r+b") as f:
        f.write(SYSLINUX["gptmbr"].read_bytes()[:440])  # boot code only: the table stays
        for start, image in ((esp_start, esp), (root_start, rootfs)):
            f.seek(start * SECTOR)
            with open(image, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 20)
    esp.unlink()
    rootfs.unlink()


def syslinux_cfg() -> str:
    """One configuration for both firmwares: boot at once (no menu, no prompt)."""
    return (
        "SERIAL 0 115200\n"
        "DEFAULT machine-os\n"
        "PROMPT 0\n"
        "TIMEOUT 0\n"
        "LABEL machine-os\n"
        "  LINUX /vmlinuz\n"
        "  INITRD /initrd.img\n"
        f"  APPEND {CMDLINE}\n"
    )


def _make_esp(esp: Path, size_mb: int, kernel: Path, initrd: Path, work: Path) -> None:
    _run(["mkfs.vfat", "-F", "32", "-n", "EFI", "-C", str(esp), str(size_mb * 1024)])
    cfg = work / "syslinux.cfg"
    cfg.write_text(syslinux_cfg())
    mtools = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    image = ["-i", str(esp)]
    _run(["mmd", *image, "::/syslinux", "::/EFI", "::/EFI/BOOT"], env=mtools)
    copies = [
        (kernel, "::/vmlinuz"),
        (initrd, "::/initrd.img"),
        (cfg, "::/syslinux/syslinux.cfg"),
        (SYSLINUX["efi"], "::/EFI/BOOT/BOOTX64.EFI"),
        (SYSLINUX["ldlinux_e64"], "::/EFI/BOOT/ldlinux.e64"),
        (cfg, "::/EFI/BOOT/syslinux.cfg"),
    ]
    for src, dest in copies:
        _run(["mcopy", *image, str(src), dest], env=mtools)
    # the BIOS side: boot sector + ldlinux.sys/.c32 in /syslinux (syslinux works on the image
    # through mtools: nothing is mounted)
    _run(["syslinux", "--install", "--directory", "/syslinux", str(esp)])


def _tree_size(root: Path) -> int:
    total = 0
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            with contextlib.suppress(OSError):  # gone meanwhile: not ours to count
                total += os.lstat(os.path.join(dirpath, n)).st_blocks * 512
    return total


def _mib(size: int) -> int:
    return -(-size // (1 << 20))


def _run(argv: list[str], stdin: str | None = None, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, input=stdin, env=env)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-1500:]
        raise ImageError(f"{argv[0]} failed (exit {result.returncode}): {tail}")
