"""The boot image of a create: the core's job, so that drivers never download or convert.

A driver that boots images lists the formats it takes (Features.image_formats) and says which
image the user chose (Driver.image_ref). The image is resolved in the store's cache (built,
fetched or imported once, checked against its digest), converted once to the driver's first
format when it is in none of them (the conversion is cached by content too), and handed over
as a local file in CreateRequest.image.
"""

from __future__ import annotations

from pathlib import Path

from machine.driver import BootImage, Driver
from machine.frozen import replace
from machine.ops.context import Context


def boot_image(ctx: Context, driver: Driver) -> BootImage | None:
    formats = driver.features.image_formats
    if not formats:
        return None
    from machine.images.cache import Cache, progress_bar

    cache = Cache(Path(ctx.store.root) / "cache")
    ref = driver.image_ref()
    image = cache.resolve(ref, formats, progress_bar(f"Downloading {ref}"))
    if image.format not in formats:
        note = f"Converting {image.name} to {formats[0]} (once: it is cached)..."
        disk = cache.export(image, formats[0], converting=lambda: ctx.progress.note(note))
        image = replace(image, disk=disk, format=formats[0])
    if not driver.features.direct_boot:
        image = replace(image, kernel=None, initrd=None, cmdline="")
    return image
