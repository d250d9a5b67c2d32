"""Boot images: the catalog (images/catalog.json), and the content-addressed cache under the
store's cache/ folder.

Every file in the cache is a blob named by its digest (`cache/blobs/sha256-<hex>`); named images
(`machine-os`, or a catalog name once fetched) are small manifests in `cache/images/NAME.json`
naming their blobs. Downloads resume, are checked against their digest before they are kept,
and happen once however many creates want the same image at the same time (a lock per blob).
A blob that changed on disk since it was last verified is hashed again, and refetched when it
no longer matches: a corrupt or truncated image is never booted.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from machine.driver import BootImage
from machine.errors import ImageError, Interrupted
from machine.images.imageformats import sniff_format
from machine.store.files import PUBLIC_FILE, ensure_dir, write_atomic
from machine.store.locks import exclusive

CATALOG = Path(__file__).resolve().parent / "data" / "catalog.json"
CHUNK = 1 << 20
DOWNLOAD_LOCK_TIMEOUT = 3600.0  # another create may be fetching a multi-GB image

Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


@dataclass(frozen=True)
class Digest:
    algo: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        algo, sep, value = text.partition(":")
        if not sep or algo not in ("sha256", "sha512") or not value or not _is_hex(value):
            raise ImageError(f"not a digest: {text!r} (expected sha256:<hex> or sha512:<hex>)")
        return cls(algo, value.lower())

    def __str__(self) -> str:
        return f"{self.algo}:{self.hex}"

    @property
    def file_name(self) -> str:
        return f"{self.algo}-{self.hex}"


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


@dataclass(frozen=True)
class Source:
    url: str  # http(s)://, file://, or a local path
    digest: Digest | None = None
    format: str = "qcow2"


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    description: str
    ssh_user: str
    # by architecture, what the publisher offers: one Source per format (qcow2, ova, vhd...)
    offers: dict[str, tuple[Source, ...]] = field(default_factory=dict)

    def pick(self, arch: str, formats: Sequence[str]) -> Source:
        """The offer in the first of `formats` there is one in; else the first offer (the
        core converts it)."""
        offers = self.offers.get(arch, ())
        if not offers:
            raise ImageError(f'image "{self.name}" has no build for {arch}')
        for fmt in formats:
            for offer in offers:
                if offer.format == fmt:
                    return offer
        return offers[0]


def machine_arch() -> str:
    arch = platform.machine()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)


def catalog(path: Path = CATALOG) -> dict[str, CatalogEntry]:
    data = json.loads(path.read_text())
    out = {}
    for name, entry in data["images"].items():
        offers = {
            arch: tuple(Source(o["url"], Digest.parse(o["digest"]), o["format"]) for o in listed)
            for arch, listed in entry["arch"].items()
        }
        out[name] = CatalogEntry(name, entry["description"], entry["ssh_user"], offers)
    return out


# --- the cache -------------------------------------------------------------------------------


class Cache:
    def __init__(self, root: Path) -> None:
        self.root = root  # the store's cache/ folder

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def manifests(self) -> Path:
        return self.root / "images"

    def blob(self, digest: Digest) -> Path:
        return self.blobs / digest.file_name

    # --- fetching ---------------------------------------------------------------------------

    def fetch(self, source: Source, progress: Progress | None = None) -> Path:
        """The blob for `source`: from the cache when it is there and intact, else fetched."""
        ensure_dir(self.blobs)
        if source.digest is None:
            return self._import_undigested(source, progress)
        digest = source.digest
        path = self.blob(digest)
        if self.intact(path, digest):
            return path
        with exclusive(self.blobs / f".{digest.file_name}.lock", DOWNLOAD_LOCK_TIMEOUT):
            if self.intact(path, digest):
                return path  # another create fetched it while we waited
            partial = self.blobs / f".{digest.file_name}.partial"
            problem = ""
            for _attempt in range(3):
                try:
                    # a partial file left by an interrupted download is continued, not redone
                    _fetch_to(source.url, partial, resume=True, progress=progress)
                except Interrupted as exc:
                    problem = str(exc)
                    continue
                got = file_digest(partial, digest.algo)
                if got == digest:
                    os.chmod(partial, PUBLIC_FILE)
                    os.replace(partial, path)
                    self._remember(path, digest)
                    return path
                partial.unlink(missing_ok=True)  # corrupt or stale: the next try starts over
                problem = f"it does not match its digest: expected {digest}, got {got}"
            raise ImageError(
                f"Could not fetch {source.url}: {problem}",
                hint="The file at that address changed or is damaged; check the URL, or give "
                "the image's current digest.",
            )

    def _import_undigested(self, source: Source, progress: Progress | None) -> Path:
        """A local file or URL given without a digest: hash it as it is copied in."""
        ensure_dir(self.blobs)
        tmp = self.blobs / f".import-{os.getpid()}-{time.monotonic_ns()}.partial"
        try:
            _fetch_to(source.url, tmp, resume=False, progress=progress)
            digest = file_digest(tmp, "sha256")
            path = self.blob(digest)
            os.chmod(tmp, PUBLIC_FILE)
            os.replace(tmp, path)
            self._remember(path, digest)
            return path
        finally:
            tmp.unlink(missing_ok=True)

    def add_file(self, src: Path) -> Digest:
        """Put a local file into the cache (copied), returning its digest."""
        blob = self._import_undigested(Source(str(src)), None)
        return Digest("sha256", blob.name.split("-", 1)[1])

    def adopt(self, made: Path) -> Digest:
        """Move a file made inside the blobs folder into the cache (no copy: a raw disk is
        gigabytes, and sparse)."""
        digest = file_digest(made, "sha256")
        os.chmod(made, PUBLIC_FILE)
        os.replace(made, self.blob(digest))
        self._remember(self.blob(digest), digest)
        return digest

    # --- integrity --------------------------------------------------------------------------

    def intact(self, path: Path, digest: Digest) -> bool:
        """True when `path` exists and matches `digest`; re-hashes only after it changed."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return False
        stamp = self._stamps().get(path.name)
        if stamp == _identity(st):
            return True
        if file_digest(path, digest.algo) != digest:
            path.unlink(missing_ok=True)
            return False
        self._remember(path, digest)
        return True

    def _stamps_path(self) -> Path:
        return self.blobs / ".verified.json"

    def _stamps(self) -> dict[str, str]:
        try:
            data = json.loads(self._stamps_path().read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _remember(self, path: Path, digest: Digest) -> None:
        with exclusive(self.blobs / ".verified.lock", 30):
            stamps = self._stamps()
            stamps[path.name] = _identity(path.stat())
            write_atomic(self._stamps_path(), json.dumps(stamps, indent=1) + "\n", PUBLIC_FILE)

    # --- named images -----------------------------------------------------------------------

    def save_manifest(self, name: str, manifest: dict[str, Any]) -> None:
        ensure_dir(self.manifests)
        write_atomic(
            self.manifests / f"{name}.json", json.dumps(manifest, indent=2) + "\n", PUBLIC_FILE
        )

    def manifest(self, name: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.manifests / f"{name}.json").read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def names(self) -> list[str]:
        try:
            return sorted(p.stem for p in self.manifests.glob("*.json"))
        except OSError:
            return []

    def remove(self, name: str) -> bool:
        """Forget a named image; blobs no other manifest names are deleted."""
        path = self.manifests / f"{name}.json"
        if not path.exists():
            return False
        path.unlink()
        self.prune()
        return True

    def prune(self) -> None:
        """Delete the blobs no named image uses (nor a conversion of one)."""
        used = {str(v) for n in self.names() for v in (self.manifest(n) or {}).values()}
        conversions = self._conversions()
        for source in list(used):
            used.update(conversions.get(source, {}).values())
        if any(source not in used for source in conversions):
            with exclusive(self.blobs / ".conversions.lock", 30):
                kept = {k: v for k, v in self._conversions().items() if k in used}
                write_atomic(
                    self._conversions_path(), json.dumps(kept, indent=1) + "\n", PUBLIC_FILE
                )
        for blob in self.blobs.glob("sha*-*"):
            if blob.name.replace("-", ":", 1) not in used:
                blob.unlink(missing_ok=True)

    # --- conversions ------------------------------------------------------------------------

    def export(
        self,
        image: BootImage,
        fmt: str,
        hardware_name: str = "",
        converting: Callable[[], None] | None = None,
    ) -> Path:
        """`image`'s disk in format `fmt` (imageformats.FORMATS), converted once: the result is
        a blob named in cache/blobs/.conversions.json by its source's digest and the format.
        `converting` is called when a conversion really starts (not when it is cached)."""
        from machine.images import imageformats

        imageformats.check_format(fmt)
        source = str(Digest.parse(image.disk.name.replace("-", ":", 1)))
        name = hardware_name or image.name
        key = fmt if fmt != "ova" else f"ova-v{imageformats.OVF_VERSION}-{name}"
        if fmt == image.format:
            return image.disk
        found = self._converted(source, key)
        if found is not None:
            return found
        with exclusive(self.blobs / f".{image.disk.name}-{key}.lock", DOWNLOAD_LOCK_TIMEOUT):
            found = self._converted(source, key)
            if found is not None:
                return found  # another process converted it while we waited
            if converting is not None:
                converting()
            tmp = self.blobs / f".convert-{os.getpid()}-{time.monotonic_ns()}"
            tmp.mkdir(mode=0o700)
            try:
                out = tmp / f"out.{fmt}"
                if fmt == "ova":  # around the stream vmdk, itself converted once
                    vmdk = self.export(image, "vmdk")
                    hardware = imageformats.Hardware(name=name)
                    imageformats.write_ova(
                        vmdk, imageformats.virtual_size(image.disk), hardware, out
                    )
                else:
                    imageformats.convert_disk(image.disk, fmt, out)
                digest = self.adopt(out)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            with exclusive(self.blobs / ".conversions.lock", 30):
                conversions = self._conversions()
                conversions.setdefault(source, {})[key] = str(digest)
                write_atomic(
                    self._conversions_path(), json.dumps(conversions, indent=1) + "\n", PUBLIC_FILE
                )
            return self.blob(digest)

    def _conversions_path(self) -> Path:
        return self.blobs / ".conversions.json"

    def _conversions(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self._conversions_path().read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            k: {f: d for f, d in v.items() if isinstance(d, str)}
            for k, v in data.items()
            if isinstance(v, dict)
        }

    def _converted(self, source: str, key: str) -> Path | None:
        target = self._conversions().get(source, {}).get(key)
        if target is None:
            return None
        try:
            digest = Digest.parse(target)
        except ImageError:
            return None
        path = self.blob(digest)
        return path if self.intact(path, digest) else None

    def resolve(
        self, ref: str, formats: Sequence[str] = (), progress: Progress | None = None
    ) -> BootImage:
        """A boot image from a name (machine-os, a catalog name), a URL or a local path; of a
        catalog entry, the offer in the first of `formats` it has (else its first offer)."""
        entries = catalog()
        if ref in entries:
            entry = entries[ref]
            arch = machine_arch()
            source = entry.pick(arch, formats)
            # the first offer is cached under the entry's name, others under name.format
            key = ref if source == entry.offers[arch][0] else f"{ref}.{source.format}"
            cached = self.manifest(key)
            if cached is not None and "disk" in cached:
                return self._from_manifest(ref, cached, key)
            disk = self.fetch(source, progress)
            assert source.digest is not None
            self.save_manifest(
                key,
                {
                    "name": ref,
                    "disk": str(source.digest),
                    "format": source.format,
                    "ssh_user": entry.ssh_user,
                    "source": source.url,
                },
            )
            return BootImage(ref, disk, source.format, entry.ssh_user)
        built = self.manifest(ref)
        if built is not None and "disk" in built:
            return self._from_manifest(ref, built)
        if ref == "machine-os":
            raise ImageError(
                "the machine-os image is not built yet",
                hint="Build it once with `machine image build` (needs root and mmdebstrap), "
                "or choose a cloud image name, URL or file with the driver's image flag.",
            )
        if "://" in ref or os.path.exists(ref):
            digest = None
            if "#" in ref:  # url#sha256:<hex> pins a digest
                ref, _, pinned = ref.partition("#")
                digest = Digest.parse(pinned)
            disk = self.fetch(Source(ref, digest), progress)
            return BootImage(
                os.path.basename(urllib.parse.urlsplit(ref).path) or ref,
                disk,
                sniff_format(disk),
                "docker",
            )
        raise ImageError(
            f'unknown image "{ref}"',
            hint=f"Use machine-os, one of {', '.join(sorted(entries))}, a URL or a file path.",
        )

    def _from_manifest(self, name: str, manifest: dict[str, Any], key: str = "") -> BootImage:
        def part(field: str) -> Path:
            digest = Digest.parse(manifest[field])
            path = self.blob(digest)
            if not self.intact(path, digest):
                if "source" in manifest:  # fetched: fetch it again (the next create would)
                    self.remove(key or name)
                    raise ImageError(
                        f"the cached {name} image is damaged or missing ({field})",
                        hint="It was dropped from the cache: run the command again to fetch it.",
                    )
                raise ImageError(
                    f"the cached {name} image is damaged or missing ({field})",
                    hint=f"Build it again with `machine image build {name}`.",
                )
            return path

        kernel = part("kernel") if "kernel" in manifest else None
        initrd = part("initrd") if "initrd" in manifest else None
        return BootImage(
            name,
            part("disk"),
            str(manifest.get("format", "qcow2")),
            str(manifest.get("ssh_user", "docker")),
            kernel,
            initrd,
            str(manifest.get("cmdline", "")),
            dockerd=str(manifest.get("dockerd", "")),
            dockerd_unit=str(manifest.get("dockerd_unit", "")),
        )


def _identity(st: os.stat_result) -> str:
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def file_digest(path: Path, algo: str) -> Digest:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return Digest(algo, h.hexdigest())


def _fetch_to(url: str, dest: Path, resume: bool, progress: Progress | None) -> None:
    """Copy `url` (http, https, file or a path) to `dest`, continuing a partial download."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("", "file"):
        src = Path(urllib.parse.unquote(parts.path) if parts.scheme else url)
        if not src.is_file():
            raise ImageError(f"image file not found: {src}")
        shutil.copyfile(src, dest)
        os.chmod(dest, PUBLIC_FILE)  # not the umask's idea: nobody else may change an image
        if progress:
            size = dest.stat().st_size
            progress(size, size)
        return
    if parts.scheme not in ("http", "https"):
        raise ImageError(f"unsupported image URL scheme: {url}")
    have = dest.stat().st_size if resume and dest.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "machine"})  # noqa: S310
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=60)  # noqa: S310 - http(s) only
    except OSError as exc:
        raise ImageError(f"downloading {url} failed: {exc}") from None
    with response:
        status = getattr(response, "status", 200)
        if have and status != 206:
            have = 0  # the server ignored the range: start over
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if have else os.O_TRUNC)
        fd = os.open(dest, flags, PUBLIC_FILE)
        os.fchmod(fd, PUBLIC_FILE)  # whatever the umask: nobody else may change an image
        with os.fdopen(fd, "ab" if have else "wb") as out:
            done = have
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
            except OSError as exc:  # includes http.client.IncompleteRead and resets
                raise Interrupted(f"the download of {url} stopped at {done} bytes: {exc}") from None
        if total is not None and done < total:
            raise Interrupted(f"the download of {url} stopped at {done} of {total} bytes")


def progress_bar(label: str) -> Progress:
    """A rich progress bar on a terminal; a line every 10% elsewhere (CI logs, pipes)."""
    if not sys.stderr.isatty():
        return plain_progress(label)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as Bar

    bar = Bar(
        f"[progress.description]{label}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),  # stdout is for what scripts read
        transient=True,
    )
    task = bar.add_task(label, total=None)
    started = [False]

    def report(done: int, total: int | None) -> None:
        if not started[0]:
            bar.start()
            started[0] = True
        bar.update(task, completed=done, total=total)
        if total is not None and done >= total:
            bar.stop()

    return report


def plain_progress(label: str) -> Progress:
    """Progress as a line every 10% on stderr (a rich bar on a terminal is the CLI's job)."""
    last = [-1]

    def report(done: int, total: int | None) -> None:
        if not total:
            return
        tenth = done * 10 // total
        if tenth != last[0]:
            last[0] = tenth
            print(f"{label}: {tenth * 10}% of {total // (1 << 20)} MiB", file=sys.stderr)

    return report
