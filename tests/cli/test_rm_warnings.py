"""`rm` says what it deletes: docker-machine's warning for hosts it made, and for an existing
server (generic) or an engine elsewhere (none) that only the local reference goes, and what
stays on the server."""

from __future__ import annotations

from tests.cli.conftest import Sandbox
from tests.cli.test_ssh_args import _generic_record


def test_rm_says_what_stays(sandbox: Sandbox) -> None:
    cli = sandbox.cli()
    cli("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "n1")
    _generic_record(sandbox, "g1")
    result = cli("rm", "-y", "g1", "n1")
    assert "delete both local reference and remote instance" not in result.stdout
    lines = result.stdout.splitlines()
    g1 = next(line for line in lines if line.startswith("WARNING: g1 (generic)"))
    assert "only the local reference is deleted" in g1 and "/etc/docker" in g1
    assert "WARNING: n1 (none): only the local reference is deleted." in lines
    assert "Successfully removed g1" in lines and "Successfully removed n1" in lines
