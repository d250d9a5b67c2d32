"""The image cache against a local HTTP server: digests, resume, one download for many."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from machine.errors import ImageError
from machine.images.cache import Cache, Digest, Source

pytestmark = pytest.mark.backend

BODY = bytes(range(256)) * 4096  # 1 MiB


class Server(http.server.ThreadingHTTPServer):
    requests: list[str]
    cut_first: bool


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        self.server.requests.append(self.headers.get("Range", "full"))
        start = 0
        if rng := self.headers.get("Range"):
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
        else:
            self.send_response(200)
        body = BODY[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.cut_first:
            self.server.cut_first = False
            self.wfile.write(body[: len(body) // 3])  # the connection drops mid-way
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server(("127.0.0.1", 0), Handler)
    srv.requests, srv.cut_first = [], False
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def url(srv: Server) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/disk.qcow2"


GOOD = Digest("sha256", hashlib.sha256(BODY).hexdigest())


def test_digest_mismatch_is_refused_and_nothing_kept(tmp_path: Path, server: Server) -> None:
    cache = Cache(tmp_path)
    wrong = Digest("sha256", "0" * 64)
    with pytest.raises(ImageError) as info:
        cache.fetch(Source(url(server), wrong))
    assert "does not match its digest" in info.value.message
    assert len(server.requests) == 3  # tried again from scratch, then gave up
    assert not cache.blob(wrong).exists()
    assert [p.name for p in cache.blobs.glob("sha*")] == []


def test_interrupted_download_resumes(tmp_path: Path, server: Server) -> None:
    cache = Cache(tmp_path)
    server.cut_first = True  # the first response stops after a third of the file
    path = cache.fetch(Source(url(server), GOOD))
    assert path.read_bytes() == BODY
    assert server.requests == ["full", f"bytes={len(BODY) // 3}-"]  # the rest, not all again


def test_concurrent_fetches_download_once(tmp_path: Path, server: Server) -> None:
    cache = Cache(tmp_path)
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: Cache(tmp_path).fetch(Source(url(server), GOOD)), range(4)))
    assert len(set(paths)) == 1 and paths[0] == cache.blob(GOOD)
    assert server.requests == ["full"]


def test_corrupted_blob_is_refetched_not_used(tmp_path: Path, server: Server) -> None:
    cache = Cache(tmp_path)
    path = cache.fetch(Source(url(server), GOOD))
    with open(path, "r+b") as f:  # damage it behind the cache's back
        f.write(b"\xff" * 10)
    again = cache.fetch(Source(url(server), GOOD))
    assert again.read_bytes() == BODY
    assert len(server.requests) == 2


def test_file_urls_and_paths_work_offline(tmp_path: Path) -> None:
    src = tmp_path / "local.qcow2"
    src.write_bytes(BODY)
    cache = Cache(tmp_path / "cache")
    assert cache.fetch(Source(f"file://{src}", GOOD)).read_bytes() == BODY
    anonymous = cache.fetch(Source(str(src)))
    assert anonymous == cache.blob(GOOD)


def test_named_images_and_removal(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    src = tmp_path / "k"
    src.write_bytes(b"kernel")
    digest = cache.add_file(src)
    cache.save_manifest(
        "machine-os",
        {"disk": str(digest), "kernel": str(digest), "initrd": str(digest), "ssh_user": "docker"},
    )
    image = cache.resolve("machine-os")
    assert image.kernel == cache.blob(digest) and image.ssh_user == "docker"
    assert cache.names() == ["machine-os"]
    assert cache.remove("machine-os")
    assert not cache.blob(digest).exists()
    with pytest.raises(ImageError) as info:
        cache.resolve("machine-os")
    assert "machine image build" in info.value.hint


# --- formats and conversions (qemu-img, on small disks made here) ---------------------------


def _raw_disk(path: Path, mib: int = 8) -> Path:
    with open(path, "wb") as f:
        f.truncate(mib << 20)
        f.seek(1 << 20)
        f.write(b"machine" * 1000)  # some data among the holes
    return path


def test_formats_are_told_by_their_first_bytes(tmp_path: Path) -> None:
    import subprocess

    from machine.images.imageformats import sniff_format

    raw = _raw_disk(tmp_path / "disk.raw")
    assert sniff_format(raw) == "raw"
    for fmt in ("qcow2", "vmdk", "vdi", "vpc"):
        out = tmp_path / f"disk.{fmt}"
        subprocess.run(["qemu-img", "convert", "-O", fmt, str(raw), str(out)], check=True)
        assert sniff_format(out) == {"vpc": "vhd"}.get(fmt, fmt)


def test_a_driver_gets_its_format_converted_once(tmp_path: Path) -> None:
    """The core's image step: a file in a format the driver does not take is converted to the
    driver's first format, once; the second create finds the conversion in the cache."""
    from machine.frozen import replace
    from machine.images import imageformats
    from machine.ops.bootimage import boot_image
    from machine.ops.context import Context
    from machine.registry import Registry
    from machine.store.filestore import Store
    from machine.testing import FakeConfig, FakeDriver

    class VdiDriver(FakeDriver):
        features = replace(FakeDriver.features, image_formats=("vdi", "vmdk"))

        def image_ref(self) -> str:
            return str(tmp_path / "disk.raw")

    _raw_disk(tmp_path / "disk.raw")
    store = Store(tmp_path / "store")
    ctx = Context(store, Registry(_loaded={"fake": VdiDriver}))
    driver = VdiDriver(FakeConfig(MachineName="m1", StorePath=str(store.root)))
    image = boot_image(ctx, driver)
    assert image is not None and image.format == "vdi"
    assert imageformats.detect_format(image.disk) == "vdi"
    assert image.kernel is None  # no direct boot declared
    converted = image.disk.stat().st_mtime_ns
    again = boot_image(ctx, driver)
    assert again is not None and again.disk == image.disk
    assert again.disk.stat().st_mtime_ns == converted  # not converted again


def test_catalog_offers_are_picked_by_format() -> None:
    from machine.images.cache import CatalogEntry

    entry = CatalogEntry(
        "x",
        "x",
        "user",
        {
            "x86_64": (
                Source("https://example.invalid/x.qcow2", None, "qcow2"),
                Source("https://example.invalid/x.ova", None, "ova"),
            )
        },
    )
    assert entry.pick("x86_64", ("ova", "vmdk")).format == "ova"
    assert entry.pick("x86_64", ("vdi",)).format == "qcow2"  # the first: the core converts it
    with pytest.raises(ImageError, match="no build for aarch64"):
        entry.pick("aarch64", ())


def test_ova_of_a_small_disk_is_valid_ovf(tmp_path: Path) -> None:
    """The descriptor against the OVF envelope schema of tests/fixtures/ovf (the e2e test does
    the same for machine-os itself)."""
    import subprocess
    import tarfile

    from machine.images import imageformats

    raw = _raw_disk(tmp_path / "disk.raw")
    vmdk = tmp_path / "disk.vmdk"
    imageformats.convert_disk(raw, "vmdk", vmdk)
    ova = tmp_path / "x.ova"
    hardware = imageformats.Hardware(name="x<&>y", cpus=4, memory_mb=4096)
    imageformats.write_ova(vmdk, 8 << 20, hardware, ova)
    with tarfile.open(ova) as tar:
        assert tar.getnames() == ["x<&>y.ovf", "x<&>y.mf", "x<&>y-disk1.vmdk"]
        member = tar.extractfile("x<&>y.ovf")
        assert member is not None
        (tmp_path / "d.ovf").write_bytes(member.read())
    schema = Path(__file__).resolve().parents[1] / "fixtures" / "ovf" / "envelope.xsd"
    check = subprocess.run(
        ["xmllint", "--noout", "--schema", str(schema), str(tmp_path / "d.ovf")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    text = (tmp_path / "d.ovf").read_text()
    assert "<rasd:VirtualQuantity>4</rasd:VirtualQuantity>" in text
    assert 'ovf:capacity="8388608"' in text


def test_an_ova_converts_from_the_disk_inside_it(tmp_path: Path) -> None:
    """A catalog entry or a file may be an OVA: a driver that boots qcow2 gets its disk."""
    from machine.images import imageformats

    raw = _raw_disk(tmp_path / "disk.raw")
    vmdk = tmp_path / "disk.vmdk"
    imageformats.convert_disk(raw, "vmdk", vmdk)
    ova = tmp_path / "appliance.ova"
    imageformats.write_ova(vmdk, 8 << 20, imageformats.Hardware(name="appliance"), ova)
    assert imageformats.sniff_format(ova) == "ova"
    out = tmp_path / "out.qcow2"
    imageformats.convert_disk(ova, "qcow2", out)
    assert imageformats.detect_format(out) == "qcow2"
    assert imageformats.virtual_size(out) == 8 << 20
    back = tmp_path / "back.raw"
    imageformats.convert_disk(out, "raw", back)
    assert back.read_bytes() == raw.read_bytes()  # the same disk, through OVA and qcow2
