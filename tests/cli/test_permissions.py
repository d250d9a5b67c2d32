"""Permissions stay as the user set them: a store folder that exists keeps its modes (a shared
1777 folder was made 0700 by any locking command), and under umask 000 every file machine
writes still gets its explicit mode (a copied id_rsa.pub was 0666)."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from machine.tls import certs
from tests.cli.conftest import Sandbox
from tests.machinecli import MACHINE


def test_an_existing_store_folder_keeps_its_modes(sandbox: Sandbox) -> None:
    sandbox.store.mkdir()
    sandbox.store.chmod(0o1777)
    cli = sandbox.cli()
    cli("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "m1")
    cli("ls")
    cli("stop", "m1", check=False)
    cli("rm", "-y", "m1")
    assert stat.S_IMODE(sandbox.store.stat().st_mode) == 0o1777
    assert stat.S_IMODE((sandbox.store / "machines").stat().st_mode) == 0o700  # made by us


def test_every_file_has_its_mode_whatever_the_umask(sandbox: Sandbox) -> None:
    key = sandbox.home / "id_ed25519"
    private, public = certs.ssh_keypair()
    key.write_bytes(private)
    key.chmod(0o600)
    key.with_name("id_ed25519.pub").write_text(public + "\n")
    create = (
        f"umask 000; exec {MACHINE} create -d generic --generic-ip-address 127.0.0.1 "
        f"--generic-ssh-port 1 --generic-ssh-key {key} --keep-on-failure --wait-timeout 1 g1"
    )
    result = subprocess.run(
        ["sh", "-c", create], env=sandbox.env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "kept for inspection" in result.stderr, result.stderr
    modes = {
        str(p.relative_to(sandbox.store)): stat.S_IMODE(p.stat().st_mode)
        for p in sandbox.store.rglob("*")
        if not p.is_symlink()
    }
    open_to_others = {p: oct(m) for p, m in modes.items() if m & 0o022}
    assert not open_to_others, open_to_others
    for name in ("id_rsa", "id_rsa.pub", "config.json", "journal.json"):
        assert modes[f"machines/g1/{name}"] == 0o600, name
    assert modes["machines/g1"] == modes["certs"] == 0o700
    assert modes["certs/ca-key.pem"] == modes["certs/key.pem"] == 0o600
    assert Path(sandbox.store / "machines/g1/id_rsa.pub").read_text() == public + "\n"
