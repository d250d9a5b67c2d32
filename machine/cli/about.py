"""The program's version line: the release, and the commit a checkout was built from."""

from __future__ import annotations

from pathlib import Path

from machine import __version__

VERSION = __version__


def build_id() -> str:
    """The commit this copy was built from: a checkout's HEAD, read without running git."""
    git = Path(__file__).resolve().parents[2] / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            path = git / ref
            if path.is_file():
                head = path.read_text().strip()
            else:  # packed refs
                for line in (git / "packed-refs").read_text().splitlines():
                    if line.endswith(" " + ref):
                        head = line.split()[0]
        if len(head) >= 7 and all(c in "0123456789abcdef" for c in head):
            return head[:7]
    except OSError:
        pass
    return "release"


def version_line(prog: str) -> str:
    return f"{prog} version {VERSION}, build {build_id()}"
