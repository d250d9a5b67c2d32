"""machine-os for the tests: built once into a cache shared by every test store (content-addressed
blobs; a changed recipe rebuilds it)."""

from __future__ import annotations

from pathlib import Path

from testbed.hosts import CACHE

IMAGE_CACHE = CACHE / "kvm-cache"


def built(recipe: Path | None = None, name: str = "") -> dict[str, str]:
    """The manifest of machine-os (or of `recipe` built as `name`) in IMAGE_CACHE."""
    from machine.images import osimage
    from machine.images.cache import Cache

    recipe = recipe or osimage.RECIPE
    name = name or osimage.NAME
    cache = Cache(IMAGE_CACHE)
    manifest = cache.manifest(name)
    if manifest is None or manifest.get("recipe") != osimage.recipe_digest(recipe):
        manifest = osimage.build(cache, recipe=recipe, name=name)
    return {k: str(v) for k, v in manifest.items()}
