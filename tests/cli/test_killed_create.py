"""A create killed outright (SIGKILL: no clean-up runs) at any of its steps leaves nothing
that blocks the name: `ls` shows what is left with the command that removes it, `rm -y`
removes it, and a new create of the same name works."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli.conftest import ROOT, Sandbox

URL = "tcp://127.0.0.1:2376"

# Every step of a none create, from taking the lock to the last journal write.
KILL_POINTS = [
    "machine.ops.create:bootstrap_certs:before",
    "machine.store.filestore:Store.create_dir:before",
    "machine.store.filestore:Store.create_dir:after",
    "machine.store.journal:Journal.start:after",
    "machine.store.filestore:Store.save:after",
    "machine.store.filestore:Store.save:after:2",
    "machine.store.journal:Journal.finish:before",
]


def _killed_create(box: Sandbox, point: str, name: str) -> subprocess.CompletedProcess[str]:
    env = box.env(MACHINE_TEST_KILL_AT=point)
    return subprocess.run(
        [sys.executable, "-m", "tests.killpoint", "create", "-d", "none", "--url", URL, name],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=box.cwd,
        timeout=60,
    )


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_killed_create_never_blocks_its_name(sandbox: Sandbox, point: str) -> None:
    cli = sandbox.cli()
    cli("create", "-d", "none", "--url", URL, "m1")  # the store and another machine exist
    killed = _killed_create(sandbox, point, "k")
    assert killed.returncode == -9, killed  # it really died at that point
    machines = sandbox.store / "machines"
    listing = cli("ls")
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()[1:]}
    assert "Running" in rows["m1"]
    if (machines / "k").exists():
        assert "k" in rows, listing.stdout
        finished = "Running" in rows["k"]
        if not finished:
            assert "Error" in rows["k"] and "rm -y k" in rows["k"], rows["k"]
    # either a create of the same name works at once, or rm -y clears the way first
    again = cli("create", "-d", "none", "--url", URL, "k", check=False)
    if again.returncode != 0:
        assert "already exists" in again.stderr, again
        cli("rm", "-y", "k")
        cli("create", "-d", "none", "--url", URL, "k")
    assert cli("ls", "-q").stdout == "k\nm1\n"
    cli("rm", "-y", "k")
    leftovers = sorted(p.name for p in machines.iterdir())
    assert leftovers == ["m1"], leftovers  # no lock file, no temporary file


def test_ls_removes_lock_files_a_killed_command_left(sandbox: Sandbox) -> None:
    cli = sandbox.cli()
    cli("create", "-d", "none", "--url", URL, "m1")
    _killed_create(sandbox, "machine.store.filestore:Store.create_dir:before", "gone")
    machines = sandbox.store / "machines"
    assert (machines / ".gone.lock").exists()
    cli("ls")
    assert sorted(p.name for p in machines.iterdir()) == ["m1"]


@pytest.mark.parametrize("nth", [1, 2, 3])
def test_a_create_killed_while_making_the_ca_leaves_a_store_that_works(
    sandbox: Sandbox, nth: int
) -> None:
    killed = _killed_create(sandbox, f"machine.tls.certstore:write_atomic:after:{nth}", "k")
    assert killed.returncode == -9, killed
    cli = sandbox.cli()
    again = cli("create", "-d", "none", "--url", URL, "k", check=False)
    if again.returncode != 0:
        cli("rm", "-y", "k")
        cli("create", "-d", "none", "--url", URL, "k")
    certs = sorted(p.name for p in (sandbox.store / "certs").iterdir())
    assert certs == ["ca-key.pem", "ca.pem", "cert.pem", "key.pem"], certs
