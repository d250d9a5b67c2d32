"""A local Debian host for tools/quickstart: `up` boots it and prints its IP, `image` builds a
busybox image tarball, `down` removes the host. Uses the end-to-end tests' host harness."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from machine import certs
from tests.e2e.hosts import TestHost, busybox_tarball

KEY = Path.home() / ".ssh" / "machine-demo"
HOST = TestHost(name="machine-demo", index=250)


def main(action: str) -> None:
    if action == "up":
        if not KEY.exists():
            KEY.parent.mkdir(mode=0o700, exist_ok=True)
            private, public = certs.ssh_keypair()
            KEY.write_bytes(private)
            KEY.chmod(0o600)
            KEY.with_suffix(".pub").write_text(public + "\n")
        HOST.boot(KEY.with_suffix(".pub").read_text())
        print(HOST.ip)
    elif action == "image":
        out = Path("/var/tmp/machine-demo-image")
        out.mkdir(parents=True, exist_ok=True)
        print(busybox_tarball(out))
    elif action == "down":
        HOST.cleanup()
    else:
        raise SystemExit(f"usage: {sys.argv[0]} up|image|down")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
