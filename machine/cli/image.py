"""`machine image build|export|ls|rm|pull`: the boot images in the store's cache."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from machine import errors
from machine.cli.common import store_of

if TYPE_CHECKING:
    from machine.images.cache import Cache

app = typer.Typer(
    help="Manage boot images (machine-os and cloud images).",
    no_args_is_help=True,
    add_completion=False,
)


def _cache(ctx: typer.Context) -> Cache:
    from machine.images.cache import Cache

    return Cache(store_of(ctx).root / "cache")


@app.command("build")
def build_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The image to build (machine-os)")] = "machine-os",
) -> None:
    """Build machine-os from Debian packages (needs root and mmdebstrap)."""
    from machine.images import osimage

    if name != osimage.NAME:
        raise errors.UsageError(f"Error: only {osimage.NAME} can be built (not {name!r})")
    cache = _cache(ctx)
    manifest = osimage.build(cache, lambda message: print(message, file=sys.stderr))
    print(f"{name} {manifest['disk']}")


@app.command("pull")
def pull_cmd(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Fetch a catalog image (debian-12, ubuntu-24.04) into the cache."""
    from machine.images.cache import progress_bar

    cache = _cache(ctx)
    image = cache.resolve(name, (), progress_bar(f"Downloading {name}"))
    print(f"{image.name} {image.disk}")


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="machine-os, a catalog name, a URL or a file")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="qcow2, raw, vmdk (streamOptimized), vdi or ova")
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="The file to write")],
) -> None:
    """Write an image in a hypervisor's native format (converted once, then cached)."""
    import os
    from pathlib import Path

    from machine.images import imageformats
    from machine.images.cache import progress_bar
    from machine.store.files import PUBLIC_FILE, copy_sparse

    imageformats.check_format(fmt)
    dest = Path(output)
    if dest.is_dir():
        raise errors.UsageError(f"Error: {output} is a folder; name the file to write")
    if not dest.parent.is_dir():
        raise errors.UsageError(f"Error: the folder of {output} does not exist")
    cache = _cache(ctx)
    image = cache.resolve(name, (fmt,), progress_bar(f"Downloading {name}"))
    print(f"Converting {image.name} to {fmt}...", file=sys.stderr)
    blob = cache.export(image, fmt)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    try:
        copy_sparse(blob, tmp)
        os.chmod(tmp, PUBLIC_FILE)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    print(str(dest))


@app.command("ls")
def ls_cmd(ctx: typer.Context) -> None:
    """List images: built or fetched ones, then what the catalog offers."""
    from machine.images import osimage
    from machine.images.cache import catalog

    cache = _cache(ctx)
    rows = [("NAME", "STATE", "DISK", "NOTE")]
    for name in cache.names():
        manifest = cache.manifest(name) or {}
        note = manifest.get("built", manifest.get("source", ""))
        if name == osimage.NAME and manifest.get("recipe") != osimage.recipe_digest():
            note = "recipe changed since this build: run `machine image build`"
        rows.append((name, "cached", str(manifest.get("disk", ""))[:19], str(note)))
    for name, entry in sorted(catalog().items()):
        if name not in cache.names():
            rows.append((name, "available", "", entry.description))
    if osimage.NAME not in cache.names():
        rows.append((osimage.NAME, "not built", "", "machine image build"))
    widths = [max(len(r[i]) for r in rows) + 3 for i in range(3)]
    for r in rows:
        print("".join(c.ljust(widths[i]) for i, c in enumerate(r[:3])) + r[3])


@app.command("rm")
def rm_cmd(ctx: typer.Context, names: Annotated[list[str], typer.Argument()]) -> None:
    """Remove images from the cache (machines already made from them keep working)."""
    cache = _cache(ctx)
    missing = [n for n in names if not cache.remove(n)]
    if missing:
        raise errors.MachineError(f"No such image: {', '.join(missing)}")
