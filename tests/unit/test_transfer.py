"""scp/mount locations and the commands built for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from machine import errors
from machine.remote import transfer
from machine.remote.ssh import Target


def test_locations() -> None:
    assert transfer.parse_location("web:/etc/hosts") == transfer.Location("/etc/hosts", "web")
    assert transfer.parse_location("deploy@web:x") == transfer.Location("x", "web", "deploy")
    assert transfer.parse_location("localhost:/tmp/a") == transfer.Location("/tmp/a")
    assert transfer.parse_location("./rel/path") == transfer.Location("./rel/path")
    assert transfer.parse_location("/abs/a:b") == transfer.Location("/abs/a:b")


def test_ssh_config_pins_each_machine() -> None:
    target = Target(
        "10.0.0.5",
        2222,
        "root",
        "/s/machines/web/id_rsa",
        Path("/s/machines/web/known_hosts"),
        "web",
    )
    text = transfer.ssh_config({"web": target})
    assert "Host machine-web\n  HostName 10.0.0.5\n  Port 2222\n  User root\n" in text
    assert "  HostKeyAlias web\n" in text
    assert '  UserKnownHostsFile "/s/machines/web/known_hosts"\n' in text
    assert "  StrictHostKeyChecking yes\n" in text
    assert '  IdentityFile "/s/machines/web/id_rsa"\n  IdentitiesOnly yes' in text


def test_scp_and_rsync_argv() -> None:
    up = (transfer.Location("a.txt"), transfer.Location("/tmp/", "web"))
    assert transfer.scp_argv("/c", *up, recursive=True, quiet=True) == [
        "scp",
        "-F",
        "/c",
        "-r",
        "-q",
        "--",
        "a.txt",
        "machine-web:/tmp/",
    ]
    both = (transfer.Location("/x", "a"), transfer.Location("/y", "b", "u"))
    assert transfer.scp_argv("/c", *both, recursive=False, quiet=False) == [
        "scp",
        "-F",
        "/c",
        "-3",
        "--",
        "machine-a:/x",
        "u@machine-b:/y",
    ]
    assert transfer.rsync_argv("/c", *up, recursive=False, quiet=False) == [
        "rsync",
        "-e",
        "ssh -F /c",
        "--progress",
        "--",
        "a.txt",
        "machine-web:/tmp/",
    ]
    with pytest.raises(errors.UsageError):
        transfer.rsync_argv("/c", *both, recursive=False, quiet=False)
    assert transfer.sshfs_argv("/c", transfer.Location("/srv", "web"), "/mnt/w") == [
        "sshfs",
        "-F",
        "/c",
        "--",
        "machine-web:/srv",
        "/mnt/w",
    ]
