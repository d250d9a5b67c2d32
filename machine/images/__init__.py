"""Boot images: the catalog, the content-addressed cache, machine-os built from Debian
packages, and conversions between disk formats. `data/` holds the catalog and the recipe."""
