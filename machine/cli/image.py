"""`machine image build|ls|rm|pull`: the boot images in the store's cache."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from machine import errors
from machine.cli.common import store_of

if TYPE_CHECKING:
    from machine.images import Cache

app = typer.Typer(
    help="Manage boot images (machine-os and cloud images).",
    no_args_is_help=True,
    add_completion=False,
)


def _cache(ctx: typer.Context) -> Cache:
    from machine.images import Cache

    return Cache(store_of(ctx).root / "cache")


@app.command("build")
def build_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The image to build (machine-os)")] = "machine-os",
) -> None:
    """Build machine-os from Debian packages (needs root and mmdebstrap)."""
    from machine import osimage

    if name != osimage.NAME:
        raise errors.UsageError(f"Error: only {osimage.NAME} can be built (not {name!r})")
    cache = _cache(ctx)
    manifest = osimage.build(cache, lambda message: print(message, file=sys.stderr))
    print(f"{name} {manifest['disk']}")


@app.command("pull")
def pull_cmd(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Fetch a catalog image (debian-12, ubuntu-24.04) into the cache."""
    from machine.images import progress_bar

    cache = _cache(ctx)
    image = cache.resolve(name, "kvm", progress_bar(f"Downloading {name}"))
    print(f"{image.name} {image.disk}")


@app.command("ls")
def ls_cmd(ctx: typer.Context) -> None:
    """List images: built or fetched ones, then what the catalog offers."""
    from machine import osimage
    from machine.images import catalog

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
