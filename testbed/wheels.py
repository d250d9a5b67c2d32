"""The `machine` wheel built from a source tree, as `pip install .` builds it (offline: the
build uses the running interpreter's setuptools, no isolated build environment)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def build_wheel(source: Path, dest: Path) -> Path:
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"),
            *("-w", str(dest), str(source)),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = dest.glob("machine-*.whl")
    return wheel
